"""A worker's view of the stored credentials: a thread reads `linkflow.credentials` from
the start (no consumer group offsets: the topic is small and compacted) and keeps the
latest record of each name. Records stay encrypted in memory; a lookup decrypts one with
the worker's LINKFLOW_APP_KEY at the moment an activity needs it."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from linkflow import transport
from linkflow.nodes.credentials import CredentialRequest, Resolved, header_secrets
from linkflow.secrets.records import CredentialError, StoredCredential, headers_of
from linkflow.worker.errors import ActivityError

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 10.0  # how long a lookup of an unknown name waits for the topic's end


class CredentialFollower:
    def __init__(self, bootstrap: str, topic: str, key: bytes) -> None:
        self._key = key
        self._partition = TopicPartition(topic, 0, OFFSET_BEGINNING)
        config = transport.consumer_config(bootstrap, f"linkflow-credentials-{uuid.uuid4().hex}")
        self._consumer = Consumer(config)
        # End offsets from a second handle: the first is busy in consume().
        self._probe = Consumer(config)
        self._records: dict[str, StoredCredential] = {}
        self._position = 0
        self._moved = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="credentials", daemon=True)

    def start(self) -> None:
        self._consumer.assign([self._partition])
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        self._consumer.close()
        self._probe.close()

    def _follow(self) -> None:
        while not self._stopping.is_set():
            for msg in self._consumer.consume(100, timeout=0.5):
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("reading %s: %s", self._partition.topic, error)
                    continue
                name = (msg.key() or b"").decode(errors="replace")
                value = msg.value()
                if not value:
                    self._records.pop(name, None)
                else:
                    try:
                        self._records[name] = StoredCredential.from_value(value)
                    except CredentialError as exc:
                        log.warning("credential record %r skipped: %s", name, exc)
                with self._moved:
                    self._position = msg.offset() + 1
                    self._moved.notify_all()

    def caught_up(self, timeout: float) -> bool:
        """Whether everything on the topic when asked has been read, within `timeout`."""
        deadline = time.monotonic() + timeout
        try:
            _, end = self._probe.get_watermark_offsets(self._partition, timeout=timeout)
        except Exception:  # the broker is away: use what was read
            return False
        with self._moved:
            return self._moved.wait_for(
                lambda: self._position >= end, max(0.0, deadline - time.monotonic())
            )

    async def resolve(self, request: CredentialRequest) -> Resolved | None:
        record = self._records.get(request.name)
        if record is None:
            # Perhaps stored a moment ago: read the topic to its end before saying no.
            await asyncio.to_thread(self.caught_up, CATCH_UP_SECONDS)
            record = self._records.get(request.name)
            if record is None:
                return None
        try:
            fields = record.open(self._key)
        except CredentialError as exc:
            raise ActivityError(
                "CredentialsError", str(exc), retryable=False, details={"credentials": record.name}
            ) from None
        headers = headers_of(record.type, fields)
        # Names are not secret (a header name, a user name); everything else is.
        values = [v for k, v in fields.items() if k not in ("header", "username")]
        return Resolved(headers, [*header_secrets(headers), *values])
