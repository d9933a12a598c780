"""The worker's Kafka consumer: one thread owns the confluent-kafka Consumer and does every
blocking call (consume, commit, close), so the event loop never blocks on Kafka.

The thread fetches tasks and hands them to the loop in batches; the loop reports each one
back with `done()`. Between the two sits the offset tracker (under a lock): the thread
records every fetched offset, the loop marks them finished, and the thread commits the
completed prefix of each partition every `commit_interval` seconds, when a partition is
revoked, and on close.

Back-pressure: when `high_water` tasks, or `max_bytes` of them, are outstanding (fetched,
not done) the thread pauses every assigned partition and keeps polling (so rebalances and
group membership are served) until both fall to half. Pausing drops librdkafka's prefetched
messages, so each pause costs a re-fetch: the buffer is sized to make that rare (measured:
pausing around every `concurrency` tasks cut throughput by a factor of six).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from linkflow.worker.offsets import OffsetTracker, PartitionOffsets, TopicPartitionKey

log = logging.getLogger(__name__)

_POLL_S = 0.1  # consume() timeout while fetching: bounds reaction to stop and commit timing
_PAUSED_POLL_S = 0.02  # while paused: how soon a freed slot resumes fetching
_WARN_EVERY_S = 30.0


@dataclass(frozen=True, slots=True)
class Fetched:
    """One task message as fetched, plus where to mark it finished."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, str | bytes | None]] | None
    offsets: PartitionOffsets

    @property
    def size(self) -> int:
        return len(self.value or b"") + len(self.key or b"")


class TaskConsumer:
    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        *,
        extra_topics: Sequence[str] = (),
        deliver: Callable[[list[Fetched]], None],
        on_fatal: Callable[[BaseException], None],
        on_revoked: Callable[[], None] = lambda: None,
        high_water: int,
        max_bytes: int = 64 * 1024 * 1024,
        commit_interval: float = 0.2,
        max_batch: int = 500,
    ) -> None:
        self._config = config
        self.topic = topic
        # Read too when they exist at start (the queue's .high topic).
        self.extra_topics = list(extra_topics)
        self._deliver = deliver
        self._on_fatal = on_fatal
        self._on_revoked = on_revoked
        self._high = max(high_water, 1)
        self._max_bytes = max(max_bytes, 1)
        self._commit_interval = commit_interval
        self._max_batch = max_batch
        self._cooperative = config.get("partition.assignment.strategy") == "cooperative-sticky"

        self._lock = threading.Lock()
        self._tracker = OffsetTracker()
        self._outstanding = 0
        self._outstanding_bytes = 0
        self._paused = False
        self._draining = threading.Event()
        self._stopping = threading.Event()
        self._assigned = threading.Event()
        self._partition_count = 0
        self._last_warning: dict[int, float] = {}
        self.committed: dict[TopicPartitionKey, int] = {}  # last successful commit
        self.commits = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="linkflow-consumer", daemon=True)

    # ---- called from the event loop -----------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def done(self, item: Fetched, *, finished: bool) -> None:
        """The loop is done with `item`: `finished` when its outcome is durably reported (its
        offset may be committed), False when it was dropped (it will be fetched again)."""
        with self._lock:
            if finished:
                item.offsets.finish(item.offset)
            self._outstanding -= 1
            self._outstanding_bytes -= item.size

    def begin_drain(self) -> None:
        """Stop fetching; keep committing and serving the group until `stop()`."""
        self._draining.set()

    def stop(self) -> None:
        """Commit the completed prefix and close the consumer (leaving the group)."""
        self._stopping.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def wait_assigned(self, timeout: float) -> bool:
        """True once the group gave this consumer partitions (tests and startup logs)."""
        return self._assigned.wait(timeout)

    @property
    def share(self) -> float:
        """The part of the topic's partitions this consumer owns (1 until known): a limit
        meant for the whole group, applied here, is that part of it."""
        with self._lock:
            owned = sum(1 for topic, _ in self._tracker.assigned() if topic == self.topic)
        return owned / self._partition_count if self._partition_count else 1.0

    @property
    def outstanding(self) -> int:
        with self._lock:
            return self._outstanding

    # ---- the consumer thread ------------------------------------------------------------

    def _run(self) -> None:
        consumer: Consumer | None = None
        try:
            consumer = Consumer(self._config)
            self._check_topic(consumer)
            consumer.subscribe(
                [self.topic, *self._existing(consumer, self.extra_topics)],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            next_commit = time.monotonic() + self._commit_interval
            while not self._stopping.is_set():
                room = self._update_pause(consumer)
                if time.monotonic() >= next_commit:
                    self._commit(consumer)
                    next_commit = time.monotonic() + self._commit_interval
                # consume() waits out its whole timeout unless it fills the batch, so block
                # for one message only (low latency), then take what else is already there.
                messages = consumer.consume(
                    num_messages=1, timeout=_PAUSED_POLL_S if self._paused else _POLL_S
                )
                if messages and room > 1:
                    messages += consumer.consume(
                        num_messages=min(room - 1, self._max_batch), timeout=0
                    )
                if messages:
                    self._accept(messages)
            self._commit(consumer)
        except BaseException as exc:
            self.error = exc
            log.exception("task consumer failed")
            self._on_fatal(exc)
        finally:
            if consumer is not None:
                try:
                    consumer.close()  # revokes (committing via on_revoke) and leaves the group
                except Exception:
                    log.exception("closing the task consumer failed")

    def _check_topic(self, consumer: Consumer) -> None:
        # A subscription to a missing topic only notices its creation at the next metadata
        # refresh (minutes), so say so now rather than sit silently idle.
        try:
            metadata = consumer.list_topics(self.topic, timeout=10)
        except KafkaException as exc:
            log.warning("cannot read metadata of %s yet: %s", self.topic, exc)
            return
        topic = metadata.topics.get(self.topic)
        if topic is not None and topic.error is None:
            self._partition_count = len(topic.partitions)
        if topic is None or topic.error is not None:
            log.warning(
                "task topic %s does not exist; create it with "
                "`linkflow topics apply --task-queue <queue>`",
                self.topic,
            )

    def _existing(self, consumer: Consumer, topics: Sequence[str]) -> list[str]:
        try:
            known = consumer.list_topics(timeout=10).topics
        except KafkaException as exc:
            log.warning("cannot list topics (reading %s only): %s", self.topic, exc)
            return []
        found = [t for t in topics if t in known and known[t].error is None]
        if found:
            log.info("also reading %s", ", ".join(found))
        return found

    def _update_pause(self, consumer: Consumer) -> int:
        """Pause or resume fetching; returns how many more tasks may be fetched now."""
        with self._lock:
            count, size = self._outstanding, self._outstanding_bytes
        draining = self._draining.is_set()
        full = count >= self._high or size >= self._max_bytes
        if not self._paused and (draining or full):
            consumer.pause(consumer.assignment())
            self._paused = True
        elif (
            self._paused
            and not draining
            and count <= self._high // 2
            and size <= self._max_bytes // 2
        ):
            consumer.resume(consumer.assignment())
            self._paused = False
        return 0 if self._paused else max(self._high - count, 1)

    def _accept(self, messages: list[Any]) -> None:
        batch: list[Fetched] = []
        with self._lock:
            draining = self._draining.is_set()
            for msg in messages:
                err = msg.error()
                if err is not None:
                    self._consume_error(err)
                    continue
                if draining:
                    continue  # not tracked, so never committed: fetched again after restart
                tp = (msg.topic(), msg.partition())
                offsets = self._tracker.track(tp, msg.offset())
                if offsets is None:
                    continue
                item = Fetched(
                    msg.topic(),
                    msg.partition(),
                    msg.offset(),
                    msg.key(),
                    msg.value(),
                    msg.headers(),
                    offsets,
                )
                self._outstanding += 1
                self._outstanding_bytes += item.size
                batch.append(item)
        if batch:
            self._deliver(batch)

    def _consume_error(self, err: KafkaError) -> None:
        if err.fatal():
            raise KafkaException(err)
        code = err.code()
        if code == KafkaError._PARTITION_EOF:
            return
        # A missing topic is reported on every metadata refresh; say it once in a while.
        now = time.monotonic()
        if now - self._last_warning.get(code, -_WARN_EVERY_S) >= _WARN_EVERY_S:
            self._last_warning[code] = now
            log.warning("task consumer: %s", err)

    def _commit(self, consumer: Consumer) -> None:
        with self._lock:
            todo = self._tracker.to_commit()
        if todo:
            self._commit_positions(
                consumer, {tp: pos for tp, _, pos in todo}, {tp: po for tp, po, _ in todo}
            )

    def _commit_positions(
        self,
        consumer: Consumer,
        positions: dict[TopicPartitionKey, int],
        owners: dict[TopicPartitionKey, PartitionOffsets] | None = None,
    ) -> None:
        # Synchronous on purpose: a position counts as committed only once Kafka said so, and
        # this thread is the only one waiting (the loop carries on).
        offsets = [TopicPartition(t, p, pos) for (t, p), pos in positions.items()]
        try:
            results = consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # A rebalance in progress makes commits fail for a moment; they are retried.
            level = logging.INFO if _rebalancing(exc) else logging.WARNING
            log.log(level, "committing task offsets failed (will retry): %s", exc)
            return
        self.commits += 1
        with self._lock:
            for tp in results or ():
                key = (tp.topic, tp.partition)
                if key not in positions:
                    continue
                if tp.error is not None:
                    log.warning("committing %s[%d] failed: %s", *key, tp.error)
                    continue
                if owners is not None:
                    owners[key].mark_committed(positions[key])
                self.committed[key] = positions[key]

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._lock:
            self._tracker.assign((tp.topic, tp.partition) for tp in partitions)
        if self._cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        if self._paused and partitions:
            consumer.pause(partitions)
        if partitions:
            log.info("assigned %s", _describe(partitions))
            self._assigned.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Commit what is complete while the partitions are still ours; tasks still running
        # for them finish here but are not committed (the new owner runs them again).
        with self._lock:
            positions = self._tracker.revoke((p.topic, p.partition) for p in partitions)
        if positions:
            self._commit_positions(consumer, positions)
        if partitions:
            log.info("revoked %s", _describe(partitions))
            self._on_revoked()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost (not revoked): another member may own them already, so commit nothing.
        with self._lock:
            self._tracker.revoke((p.topic, p.partition) for p in partitions)
        log.warning("lost %s", _describe(partitions))
        self._on_revoked()


def _rebalancing(exc: KafkaException) -> bool:
    error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    return error is not None and error.code() in (
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
    )


def _describe(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
