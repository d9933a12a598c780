"""A worker's copy of a small compacted topic (stored credentials, circuit states): a thread
reads it from the start, with no consumer group offsets, and hands each record to
`on_record(key, value)` (value None: a tombstone). `caught_up()` says whether everything on
the topic when asked has been read."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from linkflow import transport

log = logging.getLogger(__name__)


class TopicFollower:
    def __init__(
        self, bootstrap: str, topic: str, on_record: Callable[[str, bytes | None], None]
    ) -> None:
        self._on_record = on_record
        self._partition = TopicPartition(topic, 0, OFFSET_BEGINNING)
        config = transport.consumer_config(bootstrap, f"linkflow-follow-{uuid.uuid4().hex}")
        self._consumer = Consumer(config)
        # End offsets from a second handle: the first is busy in consume().
        self._probe = Consumer(config)
        self._position = 0
        self._moved = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=f"follow-{topic}", daemon=True)

    @property
    def topic(self) -> str:
        return str(self._partition.topic)

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
                        log.warning("reading %s: %s", self.topic, error)
                    continue
                key = (msg.key() or b"").decode(errors="replace")
                try:
                    self._on_record(key, msg.value() or None)
                except Exception:  # one bad record must not stop the follower
                    log.exception("record %r of %s skipped", key, self.topic)
                with self._moved:
                    self._position = msg.offset() + 1
                    self._moved.notify_all()

    def caught_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        try:
            _, end = self._probe.get_watermark_offsets(self._partition, timeout=timeout)
        except Exception:  # the broker is away: go on with what was read
            return False
        with self._moved:
            return self._moved.wait_for(
                lambda: self._position >= end, max(0.0, deadline - time.monotonic())
            )
