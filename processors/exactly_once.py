"""The loop both stream processors run: consume a batch, let the processor turn it into
records and store values, commit all of it with the input offsets in ONE Kafka transaction,
then write the local stores (docs/processors.md).

    loop = TransactionalLoop(LoopConfig(...), inputs=[topic, ...], changelog=name)
    loop.run(processor)      # a `BatchProcessor`: handle(batch) -> Output, and hooks

What it guarantees, whatever crashes where: the records, the changelog values and the input
offsets of a batch are all committed or none is (read_committed readers never see an
aborted batch); the local store only ever holds committed values; an instance that lost its
partitions (a zombie) cannot commit, because its offsets carry the consumer group
generation it knew (KIP-447); an instance restarted on its own state directory keeps its
`transactional.id` and so aborts its predecessor's open transaction when it starts.

Inputs are assigned with the `range` assignor, which gives one instance the same partition
numbers of every input topic of equal partition count (co-partitioning); on assignment the
committed offsets are fetched first (a stable fetch, which waits for a transaction still
committing offsets of those partitions) and the stores restored from the changelog after.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from linkflow import settings, transport
from linkflow.dlq import produce_dead_letter
from linkflow.metrics import DEAD_LETTERS, PROCESSOR_BATCH_SECONDS
from processors.faults import crash_point
from processors.state_store import PartitionStores, restore

log = logging.getLogger(__name__)

POLL_TIMEOUT = 0.1  # bounds how long a SIGTERM waits for the loop to notice
KAFKA_TIMEOUT = 30.0  # for one transactional call to the broker
TRANSACTION_RETRY_BACKOFF_MS = 5
SEND_OFFSETS_TIMEOUT = 15.0  # librdkafka's own bound for the call
SEND_OFFSETS_MARGIN = 5.0  # then ours, as it may not keep its own (see _send_offsets)
GUARD_SECONDS = 120.0  # how long send_offsets stays guarded after trouble
KAFKA_AWAY_PAUSE = 1.0  # before deciding again a batch that needed an unreachable Kafka
INSTANCE_FILE = "transactional-id"


class ProcessorConfig(Protocol):
    """What every processor's config has (HistoryConfig, TimersConfig)."""

    app_id: str
    bootstrap: str | None
    datadir: Path | None
    topic_prefix: str
    session_timeout: float
    transaction_timeout: float


def changelog_topic(app_id: str) -> str:
    return f"{app_id}-state-changelog"


@dataclass(frozen=True)
class LoopConfig:
    app_id: str  # the consumer group, and the prefix of the transactional.id
    bootstrap: str
    state_dir: Path
    changelog_topic: str
    dlq_topic: str
    max_batch: int
    batch_within: float
    session_timeout: float
    transaction_timeout: float
    name: str  # in log lines and crash points: "history", "timers"

    @classmethod
    def of(
        cls, config: ProcessorConfig, *, name: str, max_batch: int, batch_within: float
    ) -> LoopConfig:
        """The loop settings of a processor's config (its bootstrap already resolved)."""
        assert config.bootstrap is not None
        app_id = config.app_id
        return cls(
            app_id=app_id,
            bootstrap=config.bootstrap,
            state_dir=config.datadir or settings.state_dir() / "processors" / app_id,
            changelog_topic=changelog_topic(app_id),
            dlq_topic=config.topic_prefix + transport.DLQ,
            max_batch=max_batch,
            batch_within=batch_within,
            session_timeout=config.session_timeout,
            transaction_timeout=config.transaction_timeout,
            name=name,
        )


@dataclass(frozen=True, slots=True)
class Record:
    topic: str  # the full topic name
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    msg: Message
    reason: str
    detail: str
    error_type: str = "DecodeError"


@dataclass
class Output:
    """What one batch commits: records to produce, dead letters, and the store values it
    changes per partition (None deletes a key)."""

    records: list[Record] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    values: dict[int, dict[bytes, bytes | None]] = field(default_factory=dict)


class BatchProcessor(Protocol):
    def handle(self, batch: Sequence[Message], stores: PartitionStores) -> Output: ...

    def committed(self, output: Output) -> None:
        """The batch is committed and its values are in the stores."""

    def aborted(self) -> None:
        """The batch was aborted: forget whatever it changed in memory."""

    def assigned(self, partitions: list[int]) -> None:
        """The stores of `partitions` are restored; they are this instance's now."""

    def revoked(self) -> None:
        """Every partition is gone (the range assignor revokes all of them at once)."""

    def idle(self) -> None:
        """Called after every poll, with or without a batch (no transaction is open)."""


class TransactionalLoop:
    def __init__(self, config: LoopConfig, inputs: Iterable[str]) -> None:
        self.config = config
        self.inputs = list(inputs)
        self.stores = PartitionStores(config.state_dir / "store")
        self.transactional_id = transactional_id(config.app_id, config.state_dir)
        self.consumer = Consumer(
            transport.consumer_config(
                config.bootstrap,
                config.app_id,
                **{
                    "partition.assignment.strategy": "range",
                    "session.timeout.ms": round(config.session_timeout * 1000),
                    "heartbeat.interval.ms": max(100, round(config.session_timeout * 1000 / 4)),
                    "enable.partition.eof": False,
                    "error_cb": self._unsettled,
                },
            )
        )
        self.producer = self._new_producer()
        # A guarded send_offsets_to_transaction runs here, so that a call librdkafka never
        # returns from cannot hold the loop (see _send_offsets).
        self._offsets_sender = _DaemonCaller("send-offsets")
        self._guarded_until = 0.0
        self.owned: list[int] = []
        self._changelog_end: dict[int, int] = {}
        self._processor: BatchProcessor | None = None
        self._stopping = False
        self._last_batch_at = 0.0
        self._rebalances = 0  # assignments and revocations served so far
        self._assigned_at: dict[tuple[str, int], int] = {}  # where the assignment started

    def _new_producer(self) -> Producer:
        config = self.config
        return Producer(
            transport.producer_config(
                config.bootstrap,
                **{
                    "transactional.id": self.transactional_id,
                    "transaction.timeout.ms": round(config.transaction_timeout * 1000),
                    "linger.ms": 1,
                    "queue.buffering.max.messages": 1_000_000,
                    # The broker answers the next transaction's first request with
                    # CONCURRENT_TRANSACTIONS until the last commit's markers are written
                    # (about a millisecond); at librdkafka's default 100 ms backoff every
                    # batch waited ~75 ms in send_offsets_to_transaction (measured on the
                    # local broker, 5 ms with this). The Java producer retries it at 20 ms.
                    "retry.backoff.ms": TRANSACTION_RETRY_BACKOFF_MS,
                    "error_cb": self._unsettled,
                },
            )
        )

    # -- lifecycle --------------------------------------------------------------------

    def run(self, processor: BatchProcessor) -> None:
        """Process batches until `stop` (SIGTERM/SIGINT)."""
        self._processor = processor
        self.producer.init_transactions(KAFKA_TIMEOUT)
        self.consumer.subscribe(
            self.inputs,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        try:
            while not self._stopping:
                batch = self._poll()
                if batch:
                    self._process(processor, batch)
                processor.idle()
        finally:
            self._close()

    def stop(self, *_args: object) -> None:
        self._stopping = True

    def _close(self) -> None:
        try:
            self.consumer.close()  # leaves the group: the partitions move at once
        finally:
            try:
                self.producer.flush(5)  # no transaction is open: nothing of ours waits
            except KafkaException as exc:
                log.warning("closing the producer: %s", exc)
            self.stores.close()

    def _poll(self) -> list[Message]:
        """Block for the first input, then take more (up to `max_batch`) until
        `batch_within` seconds after the previous batch began: under load every transaction
        carries the inputs of that interval (the broker's work grows with transactions, not
        records), and an input that arrives after a quiet spell goes at once."""
        first = self.consumer.poll(POLL_TIMEOUT)
        if first is None:
            return []
        batch = [first]
        if self.config.max_batch > 1:
            wait = self._last_batch_at + self.config.batch_within - time.monotonic()
            rebalances = self._rebalances
            more = self.consumer.consume(self.config.max_batch - 1, max(0.0, wait))
            if self._rebalances != rebalances:
                # A rebalance was served inside that call: what came before it belongs to
                # the old assignment, what came after to the new one, and nothing tells
                # them apart. Drop both; the new assignment's partitions read again from
                # where it started them.
                self._restart_positions(more)
                return []
            batch.extend(more)
        self._last_batch_at = time.monotonic()
        good = []
        for msg in batch:
            error = msg.error()
            if error is None:
                good.append(msg)
            elif error.fatal():
                raise KafkaException(error)
            else:
                log.warning("consumer: %s", error)
        return good

    # -- rebalances: called from poll, between batches (no transaction is open) -------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._processor is not None
        numbers = sorted({tp.partition for tp in partitions})
        if partitions:
            # The stable fetch first: the changelog read next then holds the states of
            # every transaction whose offsets it returns.
            committed = consumer.committed(partitions, timeout=KAFKA_TIMEOUT)
            started = time.perf_counter()
            config = self.config
            applied = restore(self.stores, config.bootstrap, config.changelog_topic, numbers)
            log.info(
                "restored %d state records of partitions %s in %.2fs",
                sum(applied.values()),
                numbers,
                time.perf_counter() - started,
            )
            consumer.assign(committed)
        else:
            committed = []
            consumer.assign([])
        self._rebalances += 1
        self._assigned_at = {
            (tp.topic, tp.partition): tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            for tp in committed
        }
        self.owned = numbers
        self._processor.assigned(numbers)
        log.info("input partitions assigned to this instance: %s", numbers)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._processor is not None
        self._rebalances += 1
        self._assigned_at = {}
        self.owned = []
        self._processor.revoked()
        log.info("input partitions revoked: %s", sorted({tp.partition for tp in partitions}))

    # -- one batch --------------------------------------------------------------------

    def _process(self, processor: BatchProcessor, batch: Sequence[Message]) -> None:
        started = time.perf_counter()
        try:
            output = processor.handle(batch, self.stores)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal():
                raise
            # Deciding needed Kafka (the history processor reads the definitions feed for
            # a start of a workflow it does not know yet) and Kafka is away. Deciding
            # without it could fail an execution for good; crashing stops the partitions.
            # Nothing was written: read the batch again once Kafka answers.
            log.warning("deciding the batch needed Kafka (%s): reading it again", error)
            processor.aborted()
            self._rewind(batch)
            time.sleep(KAFKA_AWAY_PAUSE)  # a pause, not a busy loop, while it is away
            return
        crash_point(f"{self.config.name}.before_begin")
        try:
            self._transact(batch, output)
        except _Aborted:
            processor.aborted()
            self._rewind(batch)
            return
        for partition, values in output.values.items():
            self.stores.get(partition).write(values, self._changelog_end.get(partition))
        processor.committed(output)
        PROCESSOR_BATCH_SECONDS.labels(self.config.name).observe(time.perf_counter() - started)

    def _transact(self, batch: Sequence[Message], output: Output) -> None:
        producer = self.producer
        name = self.config.name
        try:
            producer.begin_transaction()
            for record in output.records:
                producer.produce(record.topic, record.value, record.key)
            for dead in output.dead_letters:
                self._dead_letter(dead)
            changelog = self.config.changelog_topic
            for partition, values in output.values.items():
                last = len(values) - 1
                for index, (key, value) in enumerate(values.items()):
                    if index == last:  # records of a partition are delivered in order
                        producer.produce(
                            changelog, value, key, partition, on_delivery=self._on_changelog
                        )
                    else:
                        producer.produce(changelog, value, key, partition)
            crash_point(f"{name}.after_produce")
            self._send_offsets(batch)
            crash_point(f"{name}.in_commit", after_ms=1)
            producer.flush(KAFKA_TIMEOUT)  # serves the changelog delivery reports
            self._commit()
        except KafkaException as exc:
            self._abort(exc)
        crash_point(f"{name}.after_commit")

    def _commit(self) -> None:
        deadline = time.monotonic() + KAFKA_TIMEOUT
        while True:
            try:
                self.producer.commit_transaction(KAFKA_TIMEOUT)
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if not error.retriable() or time.monotonic() > deadline:
                    raise
                log.warning("committing the batch again: %s", error)

    def _unsettled(self, *_: object) -> None:
        """Something may have moved a coordinator: guard send_offsets for a while."""
        self._guarded_until = time.monotonic() + GUARD_SECONDS

    def _abort(self, exc: KafkaException) -> None:
        self._unsettled()
        error: KafkaError = exc.args[0]
        if not error.fatal():
            if not (error.txn_requires_abort() or error.retriable()):
                log.error("the batch's transaction failed and cannot be aborted: %s", error)
                raise exc
            # Abortable, or retriable (a call that timed out while the broker was away):
            # either way the batch is given up and read again.
            log.warning("aborting the batch's transaction (it is read again): %s", error)
            try:
                self.producer.abort_transaction(KAFKA_TIMEOUT)
            except KafkaException as again:
                log.warning("aborting failed too (%s): starting a new producer", again.args[0])
            else:
                raise _Aborted from exc
        else:
            # This producer can never write again: fenced (the broker aborted our
            # transaction when it outlived transaction.timeout.ms, say while the process was
            # frozen, or another instance took our transactional.id). Nothing of the batch
            # was committed; a new producer fences the old one and goes on, and the consumer
            # rejoins the group on its next poll if it was dropped meanwhile.
            log.warning("the transactional producer was fenced (%s): starting a new one", error)
        self._replace_producer()
        raise _Aborted from exc

    def _replace_producer(self) -> None:
        """A new producer with our transactional.id: its init_transactions fences the old
        one and aborts whatever transaction that one left open."""
        self.producer = self._new_producer()
        self.producer.init_transactions(KAFKA_TIMEOUT)

    def _send_offsets(self, batch: Sequence[Message]) -> None:
        """send_offsets_to_transaction, bounded while the cluster is unsettled. librdkafka
        (2.16) can block in it far past its timeout when the group coordinator it had
        cached went away, as after a broker restart (librdkafka issues #5456 and #5511):
        the processor then stood still for good. For GUARD_SECONDS after a client error or an
        aborted batch, the call runs on another thread and, past the bound,
        the producer is given up for a new one and the batch read again."""
        producer = self.producer
        offsets = next_offsets(batch)
        metadata = self.consumer.consumer_group_metadata()
        if time.monotonic() >= self._guarded_until:
            # Nothing went wrong lately: a direct call (handing it to another thread costs
            # every batch a thread switch, measured as half the throughput at 500/s).
            producer.send_offsets_to_transaction(offsets, metadata, SEND_OFFSETS_TIMEOUT)
            return
        bound = SEND_OFFSETS_TIMEOUT + SEND_OFFSETS_MARGIN
        call = self._offsets_sender.submit(
            producer.send_offsets_to_transaction, offsets, metadata, SEND_OFFSETS_TIMEOUT
        )
        try:
            call.result(bound)
        except FutureTimeout:
            log.error(
                "send_offsets_to_transaction did not return within %.0f s (a librdkafka "
                "hang after a coordinator change): replacing the transactional producer",
                bound,
            )
            # The stuck call keeps its thread and the old producer; both are abandoned.
            self._offsets_sender = _DaemonCaller("send-offsets")
            self._replace_producer()
            raise _Aborted from None

    def _restart_positions(self, dropped: Sequence[Message]) -> None:
        """Seek each partition of the current assignment that `dropped` read from back to
        where the assignment started it."""
        for topic, partition in {(m.topic(), m.partition()) for m in dropped}:
            start = self._assigned_at.get((topic, partition))
            if start is None:
                continue  # not ours any more: its records were never going to be used
            try:
                self.consumer.seek(TopicPartition(topic, partition, start))
            except KafkaException as exc:
                log.warning("could not seek %s[%d] back: %s", topic, partition, exc)

    def _rewind(self, batch: Sequence[Message]) -> None:
        for tp in first_offsets(batch):
            try:
                self.consumer.seek(tp)
            except KafkaException as exc:  # revoked meanwhile: the next owner reads it
                log.warning("could not seek %s[%d] back: %s", tp.topic, tp.partition, exc)

    def _on_changelog(self, error: KafkaError | None, msg: Message) -> None:
        if error is None:
            self._changelog_end[msg.partition()] = msg.offset() + 1

    def _dead_letter(self, dead: DeadLetter) -> None:
        msg = dead.msg
        produce_dead_letter(
            self.producer,
            msg.value(),
            key=msg.key(),
            reason=dead.reason,
            topic=msg.topic(),
            partition=msg.partition(),
            offset=msg.offset(),
            error_type=dead.error_type,
            detail=dead.detail,
            original_headers=msg.headers(),
            dlq_topic=self.config.dlq_topic,
        )
        DEAD_LETTERS.labels(self.config.app_id, dead.reason).inc()


class _DaemonCaller:
    """Runs calls one at a time on a daemon thread: unlike a ThreadPoolExecutor's, a thread
    stuck in a call that never returns does not hold up the process's exit."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], object], Future[object]]] = (
            queue.SimpleQueue()
        )
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def submit(self, fn: Callable[..., object], *args: object) -> Future[object]:
        future: Future[object] = Future()
        self._calls.put((lambda: fn(*args), future))
        return future

    def _serve(self) -> None:
        while True:
            call, future = self._calls.get()
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the caller through the future
                future.set_exception(exc)


class _Aborted(Exception):
    """The batch's transaction was aborted; its inputs are read again."""


def next_offsets(batch: Sequence[Message]) -> list[TopicPartition]:
    """Where each input partition of `batch` resumes: past its last record."""
    last: dict[tuple[str, int], int] = {}
    for msg in batch:
        key = (msg.topic(), msg.partition())
        last[key] = max(last.get(key, -1), msg.offset())
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def first_offsets(batch: Sequence[Message]) -> list[TopicPartition]:
    first: dict[tuple[str, int], int] = {}
    for msg in batch:
        key = (msg.topic(), msg.partition())
        first[key] = min(first.get(key, msg.offset()), msg.offset())
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]


def transactional_id(app_id: str, state_dir: Path) -> str:
    """This instance's transactional.id, kept in its state directory: the same after a
    restart in place (so the restart fences its predecessor at once), unique otherwise."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / INSTANCE_FILE
    if path.exists():
        return path.read_text().strip()
    new_id = f"{app_id}-{uuid.uuid4().hex[:12]}"
    path.write_text(new_id + "\n")
    return new_id
