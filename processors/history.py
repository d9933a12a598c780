"""The history processor: runs the pure engine over `linkflow.commands` and `linkflow.results`.

    linkflow engine run             # or: python -m processors.history

A plain confluent-kafka loop with one Kafka transaction per batch, as Kafka Streams'
exactly-once v2 does it (docs/processors.md says why not Faust):

1. poll a batch of inputs (commands and results; co-partitioned with `linkflow.history`, so
   the instance that owns partition p of the inputs owns the executions whose history is
   on p);
2. decide each execution's inputs through `linkflow.engine.Engine`, against its state from
   the partition's store (`processors.state_store`);
3. in ONE transaction: the history events, activity tasks, child commands, a finished
   child's outcome for its parent, dead letters, each changed state on the changelog
   topic, and the input offsets (`send_offsets_to_transaction`);
4. once committed, write the new states to the local store.

A crash anywhere leaves the whole batch or none of it: an aborted (or never committed)
transaction's records are invisible to every `read_committed` reader, its offsets were
never committed, so its inputs are read and decided again against the state the last
committed transaction left. Fencing: the offsets are committed with the consumer group's
metadata (KIP-447), so an instance that lost its partitions in a rebalance (a zombie that
was frozen past its session timeout) can no longer commit, and its transaction aborts;
`transactional.id` is kept in the state directory, so an instance restarted in place
aborts its predecessor's open transaction at once instead of after its timeout.

Partitions are assigned with the `range` assignor: it gives the same partition numbers of
both input topics to one instance (co-partitioning), which the cooperative-sticky assignor
does not promise. On assignment the instance fetches the committed offsets (a stable fetch:
it waits for a transaction still committing offsets) and then restores the stores from the
changelog, so the state it decides against is exactly the one those offsets belong with.

Bad input never stops a partition: an undecodable or invalid record, or one the engine
raises on, goes to `linkflow.dlq` with the reason (inside the batch's transaction).
`crash_point` names the places the crash tests kill the processor (LINKFLOW_CRASH_AT).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from linkflow import metrics, settings, transport
from linkflow.dlq import produce_dead_letter
from linkflow.engine import Engine, EngineInput, ExecutionState, StartWorkflow
from processors.definitions import DefinitionsFeed
from processors.faults import crash_point
from processors.history_defaults import (
    DEFAULT_BATCH_WITHIN,
    DEFAULT_CACHE_SIZE,
    DEFAULT_MAX_BATCH,
    DEFAULT_TRANSACTION_TIMEOUT,
)
from processors.history_records import (
    COMMANDS,
    RESULTS,
    Outgoing,
    Rejected,
    StoredExecution,
    outgoing,
    read_input,
)
from processors.state_store import PartitionStores, restore
from processors.topics import describe_topic, ensure_changelog_topics

log = logging.getLogger(__name__)

DEFAULT_APP_ID = "linkflow-history"
# A start naming a workflow the feed has not loaded waits this long for the feed to reach
# the end of linkflow.definitions (register-then-start from another process races it).
DEFINITIONS_WAIT = 10.0
POLL_TIMEOUT = 0.1  # bounds how long a SIGTERM waits for the loop to notice
KAFKA_TIMEOUT = 30.0  # for one transactional call to the broker
INSTANCE_FILE = "transactional-id"


@dataclass(frozen=True)
class HistoryConfig:
    app_id: str = DEFAULT_APP_ID
    bootstrap: str | None = None
    datadir: Path | None = None
    topic_prefix: str = ""  # prepended to every linkflow.* topic (tests use their own)
    max_batch: int = DEFAULT_MAX_BATCH
    batch_within: float = DEFAULT_BATCH_WITHIN
    session_timeout: float = 60.0
    transaction_timeout: float = DEFAULT_TRANSACTION_TIMEOUT
    cache_size: int = DEFAULT_CACHE_SIZE
    metrics_port: int | None = None
    loglevel: str = "INFO"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def changelog_topic(self) -> str:
        return f"{self.app_id}-state-changelog"

    def state_dir(self) -> Path:
        return self.datadir or settings.state_dir() / "processors" / self.app_id


@dataclass(slots=True)
class _Item:
    msg: Message
    source: str
    now_ms: int
    inp: EngineInput


class _Aborted(Exception):
    """The batch's transaction was aborted; its inputs are read again."""


class HistoryProcessor:
    def __init__(self, config: HistoryConfig, feed: DefinitionsFeed) -> None:
        assert config.bootstrap is not None
        self.config = config
        self.feed = feed
        self.engine = Engine(feed.catalog)
        self._sources = {
            config.topic(transport.COMMANDS): COMMANDS,
            config.topic(transport.RESULTS): RESULTS,
        }
        state_dir = config.state_dir()
        self.stores = PartitionStores(state_dir / "executions")
        self.transactional_id = _transactional_id(config.app_id, state_dir)
        self.consumer = Consumer(
            transport.consumer_config(
                config.bootstrap,
                config.app_id,
                **{
                    "partition.assignment.strategy": "range",
                    "session.timeout.ms": round(config.session_timeout * 1000),
                    "heartbeat.interval.ms": max(100, round(config.session_timeout * 1000 / 4)),
                    "fetch.wait.max.ms": 50,
                    "enable.partition.eof": False,
                },
            )
        )
        self.producer = Producer(
            transport.producer_config(
                config.bootstrap,
                **{
                    "transactional.id": self.transactional_id,
                    "transaction.timeout.ms": round(config.transaction_timeout * 1000),
                    "linger.ms": 1,
                    "queue.buffering.max.messages": 1_000_000,
                },
            )
        )
        # Committed states (and, during a batch, states that batch changed) of executions
        # of the partitions this instance owns, most recently used last.
        self._cache: OrderedDict[str, StoredExecution] = OrderedDict()
        self._owned: set[int] = set()
        self._changelog_end: dict[int, int] = {}
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------------

    def run(self) -> None:
        """Process batches until `stop` (SIGTERM/SIGINT)."""
        self.producer.init_transactions(KAFKA_TIMEOUT)
        self.consumer.subscribe(
            list(self._sources),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        try:
            while not self._stopping:
                batch = self._poll()
                if batch:
                    self.handle_batch(batch)
        finally:
            self._close()

    def stop(self, *_args: Any) -> None:
        self._stopping = True

    def _close(self) -> None:
        try:
            self.consumer.close()  # leaves the group: the partitions move at once
        finally:
            self.producer.flush(5)
            self.stores.close()

    def _poll(self) -> list[Message]:
        """Block for the first input, then take what has been fetched already (up to
        `max_batch`, waiting at most `batch_within` for more)."""
        first = self.consumer.poll(POLL_TIMEOUT)
        if first is None:
            return []
        batch = [first]
        if self.config.max_batch > 1:
            batch.extend(self.consumer.consume(self.config.max_batch - 1, self.config.batch_within))
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

    # -- rebalances -------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # A stable fetch: it waits while a transaction that commits offsets of these
        # partitions is still open, so the changelog read next holds that transaction's
        # states too (or it was aborted and holds neither).
        if not partitions:
            consumer.assign([])
            log.info("input partitions assigned to this instance: []")
            return
        committed = consumer.committed(partitions, timeout=KAFKA_TIMEOUT)
        numbers = sorted({tp.partition for tp in partitions})
        started = time.perf_counter()
        applied = restore(self.stores, self._bootstrap, self.config.changelog_topic, numbers)
        self._owned = set(numbers)
        self._cache.clear()
        consumer.assign(committed)
        log.info(
            "restored %d state records of partitions %s in %.2fs",
            sum(applied.values()),
            numbers,
            time.perf_counter() - started,
        )
        log.info("input partitions assigned to this instance: %s", numbers)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Called only from poll, between batches: no transaction is open.
        self._owned.clear()
        self._cache.clear()
        log.info("input partitions revoked: %s", sorted({tp.partition for tp in partitions}))

    @property
    def _bootstrap(self) -> str:
        assert self.config.bootstrap is not None
        return self.config.bootstrap

    # -- one batch --------------------------------------------------------------------

    def handle_batch(self, batch: Sequence[Message]) -> None:
        started = time.perf_counter()
        by_execution: dict[str, list[_Item]] = defaultdict(list)
        dead: list[tuple[Message, Rejected]] = []
        for msg in batch:
            source = self._sources[msg.topic()]
            inp = read_input(source, msg.key(), msg.value())
            if isinstance(inp, Rejected):
                dead.append((msg, inp))
                continue
            _kind, timestamp = msg.timestamp()
            by_execution[inp.execution_id].append(_Item(msg, source, max(timestamp, 0), inp))

        records: list[Outgoing] = []
        states: dict[int, dict[str, StoredExecution]] = defaultdict(dict)
        for execution_id, items in by_execution.items():
            stored, sends, rejected = self._decide_execution(execution_id, items)
            dead.extend(rejected)
            if sends:
                records.extend(sends)
                states[items[0].msg.partition()][execution_id] = stored

        crash_point("history.before_begin")
        try:
            values = self._transact(batch, records, states, dead)
        except _Aborted:
            self._rewind(batch)
            return
        for partition, changed in values.items():
            self.stores.get(partition).write(changed, self._changelog_end.get(partition))
        for partition_states in states.values():
            for execution_id, stored in partition_states.items():
                self._remember(execution_id, stored)
        metrics.PROCESSOR_BATCH_SECONDS.labels("history").observe(time.perf_counter() - started)

    def _transact(
        self,
        batch: Sequence[Message],
        records: list[Outgoing],
        states: dict[int, dict[str, StoredExecution]],
        dead: list[tuple[Message, Rejected]],
    ) -> dict[int, dict[bytes, bytes | None]]:
        """Produce the batch and commit it with its input offsets in one transaction; the
        store values written, per partition."""
        producer = self.producer
        topic = self.config.topic
        values: dict[int, dict[bytes, bytes | None]] = {}
        try:
            producer.begin_transaction()
            for record in records:
                producer.produce(topic(record.topic), record.value, record.key)
            for msg, why in dead:
                self._dead_letter(msg, why)
            changelog = self.config.changelog_topic
            for partition, changed in states.items():
                values[partition] = encoded = {
                    execution_id.encode(): stored.to_bytes()
                    for execution_id, stored in changed.items()
                }
                last = len(encoded) - 1
                for index, (key, value) in enumerate(encoded.items()):
                    if index == last:  # records of a partition are delivered in order
                        producer.produce(
                            changelog, value, key, partition, on_delivery=self._on_changelog
                        )
                    else:
                        producer.produce(changelog, value, key, partition)
            crash_point("history.after_produce")
            producer.send_offsets_to_transaction(
                _next_offsets(batch), self.consumer.consumer_group_metadata(), KAFKA_TIMEOUT
            )
            crash_point("history.in_commit", after_ms=1)
            producer.flush(KAFKA_TIMEOUT)  # serves the changelog delivery reports
            self._commit()
        except KafkaException as exc:
            self._abort(exc)
        crash_point("history.after_commit")
        return values

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

    def _abort(self, exc: KafkaException) -> None:
        error: KafkaError = exc.args[0]
        if error.fatal() or not error.txn_requires_abort():
            # Fenced by a newer instance with our transactional.id, or worse: this
            # producer can never write again.
            log.error("the transactional producer failed for good: %s", error)
            raise exc
        log.warning("aborting the batch's transaction (it is read again): %s", error)
        self.producer.abort_transaction(KAFKA_TIMEOUT)
        raise _Aborted from exc

    def _rewind(self, batch: Sequence[Message]) -> None:
        """After an abort: forget what the batch changed and read its inputs again."""
        self._cache.clear()
        for tp in _first_offsets(batch):
            try:
                self.consumer.seek(tp)
            except KafkaException as exc:  # revoked meanwhile: the next owner reads it
                log.warning("could not seek %s[%d] back: %s", tp.topic, tp.partition, exc)

    def _on_changelog(self, error: KafkaError | None, msg: Message) -> None:
        if error is None:
            self._changelog_end[msg.partition()] = msg.offset() + 1

    def _dead_letter(self, msg: Message, why: Rejected) -> None:
        produce_dead_letter(
            self.producer,
            msg.value(),
            key=msg.key(),
            reason=why.reason,
            topic=msg.topic(),
            partition=msg.partition(),
            offset=msg.offset(),
            error_type=why.error_type,
            detail=why.detail,
            original_headers=msg.headers(),
            dlq_topic=self.config.topic(transport.DLQ),
        )
        metrics.DEAD_LETTERS.labels(self.config.app_id, why.reason).inc()

    # -- deciding ---------------------------------------------------------------------

    def _decide_execution(
        self, execution_id: str, items: list[_Item]
    ) -> tuple[StoredExecution, list[Outgoing], list[tuple[Message, Rejected]]]:
        """Decide `items` (one execution's inputs, in offset order) against its state; the
        new state, the records to send and the inputs to dead-letter. An input the engine
        raises on is dead-lettered and the others are decided without it."""
        rejected: list[tuple[Message, Rejected]] = []
        partition = items[0].msg.partition()
        while True:
            stored = self._load(execution_id, partition, items[0].inp)
            records: list[Outgoing] = []
            for index, item in enumerate(items):
                now_ms = max(item.now_ms, stored.now_ms)
                try:
                    decision = self.engine.decide(stored.state, item.inp, now_ms)
                    sends = outgoing(decision.events, decision.effects, now_ms)
                except Exception as exc:  # an engine bug must not stop the partition
                    log.exception("engine failed on %s input %s", execution_id, item.inp)
                    why = Rejected("engine_error", f"{type(exc).__name__}: {exc}", "EngineError")
                    rejected.append((item.msg, why))
                    # The state may be half-changed: start over from the committed one.
                    self._cache.pop(execution_id, None)
                    del items[index]
                    break
                if decision.state is None:  # not a start, and no such execution
                    why = Rejected(
                        "unknown_execution",
                        f"{type(item.inp).__name__} for execution {execution_id!r}, "
                        "which was never started",
                        "UnknownExecution",
                    )
                    rejected.append((item.msg, why))
                    continue
                stored.state = decision.state
                stored.now_ms = now_ms
                if decision.events:
                    records.extend(sends)
                    self._count(decision.state, decision.events)
            else:
                return stored, records, rejected
            if not items:
                return stored, [], rejected

    def _load(self, execution_id: str, partition: int, first: EngineInput) -> StoredExecution:
        cached = self._cache.get(execution_id)
        if cached is not None:
            self._cache.move_to_end(execution_id)
            return cached
        data = self.stores.get(partition).get(execution_id.encode())
        if data is None:
            if isinstance(first, StartWorkflow) and not self._knows(first):
                self._catch_up_definitions()
            return StoredExecution(ExecutionState(execution_id, plans=self.feed.catalog))
        stored = StoredExecution.from_bytes(data, self.feed.catalog)
        state = stored.state
        if (
            state.workflow_id
            and self.feed.catalog.get(state.workflow_id, state.workflow_version) is None
        ):
            self._catch_up_definitions()
            stored = StoredExecution.from_bytes(data, self.feed.catalog)
        return stored

    def _remember(self, execution_id: str, stored: StoredExecution) -> None:
        cache = self._cache
        cache[execution_id] = stored
        cache.move_to_end(execution_id)
        while len(cache) > self.config.cache_size:
            cache.popitem(last=False)

    def _knows(self, start: StartWorkflow) -> bool:
        return self.feed.catalog.get(start.workflow_id, start.workflow_version) is not None

    def _catch_up_definitions(self) -> None:
        if not self.feed.wait_caught_up(DEFINITIONS_WAIT):
            log.warning("the definitions feed did not catch up within %ss", DEFINITIONS_WAIT)

    @staticmethod
    def _count(state: ExecutionState, events: Sequence[Any]) -> None:
        for event in events:
            metrics.HISTORY_EVENTS.labels(event.event_type).inc()
            if event.event_type == "WorkflowExecutionStarted":
                metrics.EXECUTIONS_STARTED.labels(state.workflow_id).inc()
            elif event.is_terminal:
                metrics.EXECUTIONS_COMPLETED.labels(state.workflow_id, state.status).inc()
                seconds = max(0, event.timestamp_ms - state.started_at_ms) / 1000
                metrics.EXECUTION_DURATION.labels(state.workflow_id, state.status).observe(seconds)


def _next_offsets(batch: Sequence[Message]) -> list[TopicPartition]:
    """Where each input partition of `batch` resumes: past its last record."""
    last: dict[tuple[str, int], int] = {}
    for msg in batch:
        key = (msg.topic(), msg.partition())
        last[key] = max(last.get(key, -1), msg.offset())
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def _first_offsets(batch: Sequence[Message]) -> list[TopicPartition]:
    first: dict[tuple[str, int], int] = {}
    for msg in batch:
        key = (msg.topic(), msg.partition())
        first[key] = min(first.get(key, msg.offset()), msg.offset())
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]


def _transactional_id(app_id: str, state_dir: Path) -> str:
    """This instance's transactional.id, kept in its state directory: the same after a
    restart in place (so the restart fences its predecessor at once), unique otherwise."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / INSTANCE_FILE
    if path.exists():
        return path.read_text().strip()
    transactional_id = f"{app_id}-{uuid.uuid4().hex[:12]}"
    path.write_text(transactional_id + "\n")
    return transactional_id


def build(config: HistoryConfig) -> HistoryProcessor:
    """The processor, its changelog created and the definitions loaded (blocking)."""
    bootstrap = config.bootstrap or settings.kafka_bootstrap()
    config = dataclasses.replace(config, bootstrap=bootstrap)
    history = describe_topic(bootstrap, config.topic(transport.HISTORY))
    for name in (transport.COMMANDS, transport.RESULTS):
        source = describe_topic(bootstrap, config.topic(name))
        if source.partitions != history.partitions:
            raise RuntimeError(
                f"{source.name} has {source.partitions} partitions and {history.name} "
                f"{history.partitions}: they must be co-partitioned (see topics/execution.yaml)"
            )
    describe_topic(bootstrap, config.topic(transport.DLQ))
    ensure_changelog_topics(
        bootstrap,
        history,
        {config.changelog_topic: f"execution state of history processor {config.app_id}"},
    )
    feed = DefinitionsFeed(bootstrap, topic=config.topic(transport.DEFINITIONS)).start()
    if not feed.wait_caught_up(60):
        raise RuntimeError("could not read linkflow.definitions to its end within 60 s")
    return HistoryProcessor(config, feed)


def run(config: HistoryConfig) -> int:
    """Run the history processor until SIGTERM/SIGINT; the exit code."""
    logging.basicConfig(
        level=config.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    processor = build(config)
    if config.metrics_port is not None:
        metrics.serve(config.metrics_port)
    signal.signal(signal.SIGTERM, processor.stop)
    signal.signal(signal.SIGINT, processor.stop)
    log.info(
        "history processor %s (transactional.id %s): %s -> %s (%d definitions)",
        config.app_id,
        processor.transactional_id,
        ", ".join(processor._sources),
        config.topic(transport.HISTORY),
        sum(1 for _ in processor.feed.catalog),
    )
    try:
        processor.run()
    finally:
        processor.feed.stop()
    return 0


if __name__ == "__main__":
    from linkflow.cli.main import main

    sys.exit(main(["engine", "run", *sys.argv[1:]]))
