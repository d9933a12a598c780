"""Helpers for the timers processor tests: topics of their own, the processor as a
subprocess, a history writer that plays the history processor, and a results reader."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiokafka.partitioner import murmur2
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from linkflow import transport
from linkflow.codec import decode_result, encode_history
from linkflow.topics import apply_topics

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
# Processors start in a few seconds on a quiet machine; CI shares two cores with a broker.
STARTUP = 90.0


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def partition_for(key: str, partitions: int) -> int:
    """The partition Java clients, aiokafka and Faust choose for `key` (murmur2)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def ids_on_one_partition(prefix: str, count: int, partitions: int) -> list[str]:
    """`count` execution ids that all hash to the same partition (so their history events
    are processed in the order written and their timers share one store)."""
    first = f"{prefix}-0"
    target = partition_for(first, partitions)
    ids = [first]
    n = 1
    while len(ids) < count:
        candidate = f"{prefix}-{n}"
        if partition_for(candidate, partitions) == target:
            ids.append(candidate)
        n += 1
    return ids


@dataclass(frozen=True)
class Topics:
    bootstrap: str
    prefix: str
    partitions: int

    @property
    def history(self) -> str:
        return self.prefix + transport.HISTORY

    @property
    def results(self) -> str:
        return self.prefix + transport.RESULTS

    @property
    def dlq(self) -> str:
        return self.prefix + transport.DLQ


@contextmanager
def topics_of_our_own(bootstrap: str, name: str, partitions: int | None = None) -> Iterator[Topics]:
    """Every linkflow.* topic from topics/ under a fresh prefix (the keyed ones with
    `partitions` if given); deleted afterwards with the changelogs of every app whose id
    starts with the prefix."""
    prefix = f"{unique(name)}."
    apply_topics(bootstrap, prefix=prefix, partitions=partitions)
    admin = AdminClient(transport.client_config(bootstrap))
    metadata = admin.list_topics(timeout=30)
    partitions = len(metadata.topics[prefix + transport.HISTORY].partitions)
    try:
        yield Topics(bootstrap, prefix, partitions)
    finally:
        names = [n for n in admin.list_topics(timeout=30).topics if n.startswith(prefix)]
        if names:
            for future in admin.delete_topics(names, operation_timeout=30).values():
                # Best effort: a leftover test topic harms nobody.
                with contextlib.suppress(Exception):
                    future.result(60)


def history_event(execution_id: str, event_type: str, **attributes: Any) -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "event_id": 1,  # the timers processor does not read event ids
        "timestamp_ms": now_ms(),
        "event_type": event_type,
        "attributes": attributes,
    }


def timer_started(execution_id: str, timer_id: str, fire_at_ms: int) -> dict[str, Any]:
    return history_event(
        execution_id,
        "TimerStarted",
        timer_id=timer_id,
        fire_at_ms=fire_at_ms,
        purpose="wait",
        node_id="pause",
        scope="",
    )


class HistoryWriter:
    """Writes history events as the history processor would (murmur2, key = execution id)."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self._producer = Producer(transport.producer_config(topics.bootstrap))

    def write(self, *events: dict[str, Any]) -> list[tuple[int, int]]:
        """Send and wait; (partition, offset) of each event."""
        delivered: list[tuple[int, int]] = []
        errors: list[Any] = []

        def report(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(err)
            else:
                delivered.append((msg.partition(), msg.offset()))

        for event in events:
            while True:
                try:
                    self._producer.produce(
                        self.topics.history,
                        key=event["execution_id"].encode(),
                        value=encode_history(event),
                        on_delivery=report,
                    )
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self._producer.poll(0.1)
        assert self._producer.flush(60) == 0
        assert not errors, errors
        return delivered

    def write_raw(self, key: bytes, value: bytes) -> tuple[int, int]:
        delivered: list[tuple[int, int]] = []
        self._producer.produce(
            self.topics.history,
            key=key,
            value=value,
            on_delivery=lambda err, msg: delivered.append((msg.partition(), msg.offset())),
        )
        assert self._producer.flush(30) == 0
        return delivered[0]

    def confirm(self, execution_id: str, timer_id: str) -> tuple[int, int]:
        """The history's TimerFired: what the history processor writes for a fired timer."""
        return self.write(history_event(execution_id, "TimerFired", timer_id=timer_id))[0]


@dataclass(frozen=True)
class Fired:
    execution_id: str
    timer_id: str
    fired_at_ms: int
    partition: int
    offset: int
    timestamp_ms: int  # the record's CreateTime, set by the processor's producer


class ResultsReader:
    """Reads TimerFired inputs from the results topic (all partitions, from the start)."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self._consumer = Consumer(
            {
                "bootstrap.servers": topics.bootstrap,
                "group.id": unique("test-timers-reader"),
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        self._consumer.assign(
            [TopicPartition(topics.results, p, 0) for p in range(topics.partitions)]
        )
        self.fired: list[Fired] = []

    def poll(self, seconds: float = 0.2) -> None:
        for msg in self._consumer.consume(1000, timeout=seconds):
            if msg.error():
                continue
            result = decode_result(msg.value())
            assert result["input_type"] == "TimerFired"
            assert msg.key() == result["execution_id"].encode()
            self.fired.append(
                Fired(
                    result["execution_id"],
                    result["timer_id"],
                    result["fired_at_ms"],
                    msg.partition(),
                    msg.offset(),
                    msg.timestamp()[1],
                )
            )

    def of(self, execution_id: str, timer_id: str | None = None) -> list[Fired]:
        return [
            f
            for f in self.fired
            if f.execution_id == execution_id and (timer_id is None or f.timer_id == timer_id)
        ]

    def wait_for(self, predicate: Callable[[], T], timeout: float, what: str) -> T:
        def check() -> T:
            self.poll(0.05)
            return predicate()

        return wait_until(check, timeout, what, interval=0)

    def read_to_end(self) -> None:
        """Poll until every partition's position reaches the current high watermark."""
        topic = self.topics.results
        ends = {
            p: self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(self.topics.partitions)
        }

        def caught_up() -> bool:
            self.poll(0.05)
            positions = self._consumer.position(
                [TopicPartition(topic, p) for p in range(self.topics.partitions)]
            )
            return all(
                tp.offset >= ends[tp.partition] or ends[tp.partition] == 0 for tp in positions
            )

        wait_until(caught_up, 30, "the results topic to be read to its end", interval=0)

    def close(self) -> None:
        self._consumer.close()


def read_dead_letters(
    topics: Topics, predicate: Callable[[list[Any]], bool], timeout: float
) -> list[Any]:
    """DLQ records (every partition, from the start) once `predicate(records)` holds."""
    consumer = Consumer(
        {
            "bootstrap.servers": topics.bootstrap,
            "group.id": unique("test-timers-dlq"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topics.dlq])
    records: list[Any] = []
    try:

        def check() -> bool:
            records.extend(m for m in consumer.consume(100, timeout=0.2) if not m.error())
            return predicate(records)

        wait_until(check, timeout, "dead letters", interval=0)
        return records
    finally:
        consumer.close()


def committed_offsets(
    bootstrap: str, group: str, topic: str, partitions: list[int]
) -> dict[int, int]:
    """The offsets `group` has committed on `topic` (-1001 where it has none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


def wait_committed(topics: Topics, group: str, offsets: list[tuple[int, int]]) -> None:
    """Until `group` has committed past each (partition, offset) of the history topic: the
    processor has handled those events (and flushed what handling them produced)."""
    last: dict[int, int] = {}
    for partition, offset in offsets:
        last[partition] = max(last.get(partition, -1), offset)

    seen: dict[int, int] = {}

    def done() -> bool:
        seen.update(committed_offsets(topics.bootstrap, group, topics.history, sorted(last)))
        return all(seen[p] > o for p, o in last.items())

    try:
        wait_until(done, 60, f"group {group} to commit past history offsets", interval=0.05)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: wanted past {last}, committed {seen}") from None


class TimersProcess:
    """`python -m processors.timers` as a child process with its own app id and state dir."""

    def __init__(
        self,
        topics: Topics,
        datadir: Path,
        *,
        app_id: str | None = None,
        extra: list[str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.topics = topics
        self.datadir = datadir
        self.app_id = app_id or f"{topics.prefix}timers-{uuid.uuid4().hex[:6]}"
        self.extra = extra or []
        self.log = log or datadir.parent / f"{datadir.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> TimersProcess:
        args = [
            sys.executable,
            "-m",
            "processors.timers",
            "--bootstrap",
            self.topics.bootstrap,
            "--app-id",
            self.app_id,
            "--datadir",
            str(self.datadir),
            "--topic-prefix",
            self.topics.prefix,
            "--resend-interval",
            "1",
            "--tick",
            "0.5",
            *self.extra,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=out, env=env)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.alive():
            try:
                self.kill(signal.SIGTERM, timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)


def wait_ready(proc: TimersProcess, writer: HistoryWriter, reader: ResultsReader) -> None:
    """Until the processor fires a timer that is already due: it consumes history, owns its
    partitions and produces results."""
    probe = unique("probe")
    writer.write(timer_started(probe, "probe", 0))

    def fired() -> bool:
        assert proc.alive(), f"timers processor exited:\n{proc.log_text()[-5000:]}"
        return bool(reader.of(probe))

    reader.wait_for(fired, STARTUP, "the timers processor to fire a probe timer")
