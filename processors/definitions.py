"""Workflow definitions for the processors: the compacted `linkflow.definitions` topic read
into a `linkflow.model.Catalog` by a background thread.

Every processor instance reads every partition from the beginning (no consumer group): each
one must know every definition. A start naming a definition not seen yet waits for the feed
to catch up with the topic's end before giving up, so "register, then start" never races.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from linkflow import transport
from linkflow.codec import DecodeError, decode_definition
from linkflow.model import Catalog, DefinitionError
from linkflow.model.workspaces import DEFAULT_WORKSPACE
from linkflow.worker.registry import installed_node_types

log = logging.getLogger(__name__)

PROBE_RETRY_PAUSE = 0.5  # between two questions for the topic's end, while the broker is away
PROBE_MIN_TIMEOUT = 0.1


class DefinitionsFeed:
    def __init__(
        self, bootstrap: str, catalog: Catalog | None = None, topic: str = transport.DEFINITIONS
    ) -> None:
        self.catalog = catalog or Catalog(registry=installed_node_types())
        self.topic = topic
        self.rejected: list[tuple[str, str]] = []  # (key, why) of records that did not load
        self._bootstrap = bootstrap
        self._consumer: Consumer | None = None
        self._positions: dict[int, int] = {}
        self._partitions: list[int] = []
        self._progress = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="definitions-feed", daemon=True)

    def start(self) -> DefinitionsFeed:
        self._consumer = Consumer(
            transport.consumer_config(
                self._bootstrap,
                f"linkflow-definitions-{uuid.uuid4().hex}",
                **{"enable.partition.eof": False},
            )
        )
        meta = self._consumer.list_topics(self.topic, timeout=30)
        topic_meta = meta.topics.get(self.topic)
        if topic_meta is None or topic_meta.error is not None:
            raise RuntimeError(f"topic {self.topic} is missing: run `linkflow topics apply`")
        # Kept here: asking the consumer for its assignment from another thread would wait
        # for the feed thread's consume() to return.
        self._partitions = sorted(topic_meta.partitions)
        self._consumer.assign([TopicPartition(self.topic, p, 0) for p in self._partitions])
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        assert self._consumer is not None
        try:
            while not self._stop.is_set():
                for msg in self._consumer.consume(500, 0.2):
                    if msg.error():
                        if msg.error().code() != KafkaError._PARTITION_EOF:
                            log.warning("definitions feed: %s", msg.error())
                        continue
                    self._load(msg.key(), msg.value())
                    with self._progress:
                        self._positions[msg.partition()] = msg.offset() + 1
                        self._progress.notify_all()
        finally:
            self._consumer.close()

    def _end_of(self, probe: Consumer, partition: int, deadline: float) -> int:
        while True:
            try:
                _, high = probe.get_watermark_offsets(
                    TopicPartition(self.topic, partition),
                    timeout=max(PROBE_MIN_TIMEOUT, deadline - time.monotonic()),
                )
                return int(high)
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.fatal() or time.monotonic() + PROBE_RETRY_PAUSE >= deadline:
                    raise
                log.warning(
                    "definitions feed: asking for the end of %s again: %s", self.topic, error
                )
                time.sleep(PROBE_RETRY_PAUSE)

    def _load(self, key: bytes | None, value: bytes | None) -> None:
        name = (key or b"").decode(errors="replace")
        if value is None:
            return  # a tombstone: compaction will drop the definition; executions keep theirs
        try:
            record = decode_definition(value)
            self.catalog.register(
                record["definition"], record.get("workspace") or DEFAULT_WORKSPACE
            )
        except (DecodeError, DefinitionError, KeyError, TypeError) as exc:
            # Registration validates before publishing; a record that fails here was written
            # by something else. Keep going: one bad record must not hide the others.
            log.error("definition %s rejected: %s", name, exc)
            self.rejected.append((name, str(exc)))

    def wait_caught_up(self, timeout: float = 10.0) -> bool:
        """Block until everything on the topic right now has been loaded; False if that
        takes longer than `timeout`. The topic's end is asked again while the broker answers
        with a retriable error (a broker just restarted has no partition leader for a
        moment); a KafkaException when that lasts the whole timeout, or is fatal."""
        assert self._consumer is not None
        deadline = time.monotonic() + timeout
        ends: dict[int, int] = {}
        probe = Consumer(
            transport.client_config(
                self._bootstrap, **{"group.id": f"linkflow-definitions-probe-{uuid.uuid4().hex}"}
            )
        )
        try:
            for partition in self._partitions:
                ends[partition] = self._end_of(probe, partition, deadline)
        finally:
            probe.close()
        with self._progress:
            while any(self._positions.get(p, 0) < end for p, end in ends.items()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._progress.wait(left)
        return True
