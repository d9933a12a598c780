"""The history processor: runs the pure engine over `linkflow.commands` and `linkflow.results`.

    linkflow engine run             # or: python -m processors.history

Each batch: poll inputs (commands and results; co-partitioned with `linkflow.history`, so
the instance that owns partition p of the inputs owns the executions whose history is on
p), decide each execution's inputs through `linkflow.engine.Engine` against its state from
the partition's store, and commit in ONE Kafka transaction the history events, activity
tasks, child commands, a finished child's outcome for its parent, dead letters, each changed
state on the changelog topic, and the input offsets (`processors.exactly_once`, which says
what that guarantees; docs/processors.md says why this is not Faust). A crash anywhere
leaves the whole batch or none of it: the inputs of an aborted batch are decided again
against the state the last committed batch left.

Bad input never stops a partition: an undecodable or invalid record, or one the engine
raises on, goes to `linkflow.dlq` with the reason (inside the batch's transaction).
`crash_point` names the places the crash tests kill the processor (LINKFLOW_CRASH_AT).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Message

from linkflow import metrics, settings, transport
from linkflow.engine import (
    ActivityCompleted,
    ActivityFailed,
    Engine,
    EngineInput,
    Error,
    ExecutionState,
    HistoryEvent,
    ResetWorkflow,
    StartWorkflow,
)
from linkflow.limits import HISTORY_EVENTS
from linkflow.quotas import Quotas, quotas_from_environment
from linkflow.transport import MAX_RECORD_BYTES
from processors.admission import RUNNING_KEY, WorkspaceAdmission
from processors.definitions import DefinitionsFeed
from processors.exactly_once import (
    DeadLetter,
    LoopConfig,
    Output,
    Record,
    TransactionalLoop,
    changelog_topic,
)
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
from processors.state_store import PartitionStores
from processors.topics import check_record_limit, describe_topic, ensure_changelog_topics

log = logging.getLogger(__name__)

DEFAULT_APP_ID = "linkflow-history"
# A start naming a workflow the feed has not loaded waits this long for the feed to reach
# the end of linkflow.definitions (register-then-start from another process races it).
DEFINITIONS_WAIT = 10.0


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

    def loop_config(self) -> LoopConfig:
        return LoopConfig.of(
            self, name="history", max_batch=self.max_batch, batch_within=self.batch_within
        )


@dataclass(slots=True)
class _Item:
    msg: Message
    source: str
    now_ms: int
    inp: EngineInput


class HistoryProcessor:
    """The engine side of the loop (`processors.exactly_once.BatchProcessor`)."""

    def __init__(
        self,
        config: HistoryConfig,
        feed: DefinitionsFeed,
        quotas: Quotas | None = None,
        partitions: int = 1,
    ) -> None:
        self.config = config
        self.feed = feed
        self.admission = WorkspaceAdmission(quotas or Quotas(), partitions)
        self.engine = Engine(
            feed.catalog,
            admission=self.admission if self.admission.enabled else None,
            max_history_events=HISTORY_EVENTS.value(),
        )
        self.sources = {
            config.topic(transport.COMMANDS): COMMANDS,
            config.topic(transport.RESULTS): RESULTS,
        }
        self.loop = TransactionalLoop(config.loop_config(), self.sources)
        # Committed states (and, during a batch, states that batch changed) of executions
        # of the partitions this instance owns, most recently used last.
        self._cache: OrderedDict[str, StoredExecution] = OrderedDict()
        self._batch_states: dict[str, StoredExecution] = {}
        self._batch_ignored: list[str] = []

    def run(self) -> None:
        self.loop.run(self)

    # -- the loop's hooks ---------------------------------------------------------------

    def handle(self, batch: Sequence[Message], stores: PartitionStores) -> Output:
        by_execution: dict[str, list[_Item]] = defaultdict(list)
        output = Output()
        self._batch_ignored = []
        for msg in batch:
            source = self.sources[msg.topic()]
            inp = read_input(source, msg.key(), msg.value())
            if isinstance(inp, Rejected):
                output.dead_letters.append(_dead(msg, inp))
                continue
            _kind, timestamp = msg.timestamp()
            by_execution[inp.execution_id].append(_Item(msg, source, max(timestamp, 0), inp))

        topic = self.config.topic
        changed: dict[str, StoredExecution] = {}
        for execution_id, items in by_execution.items():
            partition = items[0].msg.partition()
            stored, encoded, sends, rejected = self._decide_execution(execution_id, items, stores)
            output.dead_letters.extend(_dead(msg, why) for msg, why in rejected)
            if encoded is not None:
                output.records.extend(Record(topic(r.topic), r.key, r.value) for r in sends)
                output.values.setdefault(partition, {})[execution_id.encode()] = encoded
                changed[execution_id] = stored
        for partition, counts in self.admission.batch_values().items():
            output.values.setdefault(partition, {})[RUNNING_KEY] = counts
        self._batch_states = changed
        return output

    def committed(self, output: Output) -> None:
        cache = self._cache
        counts = _BatchCounts()
        for execution_id, stored in self._batch_states.items():
            counts.add(stored.state, stored.events)
            stored.events = []
            cache[execution_id] = stored
            cache.move_to_end(execution_id)
        counts.publish()
        while len(cache) > self.config.cache_size:
            cache.popitem(last=False)
        self._batch_states = {}
        self.admission.committed()
        for reason in self._batch_ignored:
            metrics.INPUTS_IGNORED.labels(reason).inc()
        self._batch_ignored = []

    def aborted(self) -> None:
        # Cached states may carry the aborted batch's decisions (the engine decides in place).
        self._cache.clear()
        self._batch_states = {}
        self._batch_ignored = []
        self.admission.aborted()

    def assigned(self, partitions: list[int]) -> None:
        self._cache.clear()
        self.admission.assigned(partitions, self.loop.stores)

    def revoked(self) -> None:
        self._cache.clear()
        self.admission.revoked()

    def idle(self) -> None:
        pass

    # -- deciding -----------------------------------------------------------------------

    def _decide_execution(
        self, execution_id: str, items: list[_Item], stores: PartitionStores
    ) -> tuple[StoredExecution, bytes | None, list[Outgoing], list[tuple[Message, Rejected]]]:
        """Decide `items` (one execution's inputs, in offset order) against its state; the
        new state and its encoding (None: nothing to write), the records to send and the
        inputs to dead-letter. An input the engine raises on, or whose decision would write
        a record or a state bigger than `MAX_RECORD_BYTES`, is dead-lettered and the others
        are decided again without it: one input must never stop the partition."""
        rejected: list[tuple[Message, Rejected]] = []
        partition = items[0].msg.partition()
        was_running: bool | None = None
        while items:
            stored = self._load(execution_id, partition, items[0].inp, stores)
            if was_running is None:
                was_running = stored.state.is_open
            records: list[Outgoing] = []
            # Unknown executions and refused inputs, found again when decided again.
            unknown: list[tuple[Message, Rejected]] = []
            ignored: list[str] = []  # the engine's reasons for inputs that changed nothing
            poisoned: tuple[int, Rejected] | None = None
            last_change = -1
            for index, item in enumerate(items):
                now_ms = max(item.now_ms, stored.now_ms)
                try:
                    decision = self.engine.decide(stored.state, item.inp, now_ms)
                    sends = outgoing(decision.events, decision.effects, now_ms)
                except Exception as exc:  # an engine bug must not stop the partition
                    log.exception("engine failed on %s input %s", execution_id, item.inp)
                    poisoned = (
                        index,
                        Rejected("engine_error", f"{type(exc).__name__}: {exc}", "EngineError"),
                    )
                    break
                too_big = next((r for r in sends if len(r.value) > MAX_RECORD_BYTES), None)
                if too_big is not None:
                    poisoned = index, _too_large(f"a {too_big.topic} record", len(too_big.value))
                    break
                if decision.state is None:  # not a start, and no such execution
                    why = Rejected(
                        "unknown_execution",
                        f"{type(item.inp).__name__} for execution {execution_id!r}, "
                        "which was never started",
                        "UnknownExecution",
                    )
                    unknown.append((item.msg, why))
                    continue
                stored.state = decision.state
                stored.now_ms = now_ms
                if decision.refusal is not None:
                    refusal = decision.refusal
                    why = Rejected(refusal.reason, refusal.detail, "Refused")
                    unknown.append((item.msg, why))
                    continue
                if decision.ignored and not decision.events:
                    ignored.append(decision.ignored)
                if decision.events:
                    records.extend(sends)
                    stored.events.extend(decision.events)
                    last_change = index
            if poisoned is None and records:
                encoded = stored.to_bytes()
                if len(encoded) <= MAX_RECORD_BYTES:
                    self._batch_ignored.extend(ignored)
                    if stored.state.is_open != was_running:
                        delta = 1 if stored.state.is_open else -1
                        self.admission.changed(partition, stored.state.workspace, delta)
                    return stored, encoded, records, rejected + unknown
                poisoned = last_change, _too_large("the execution's state", len(encoded))
            if poisoned is None:
                self._batch_ignored.extend(ignored)
                return stored, None, records, rejected + unknown
            index, why = poisoned
            rejected.append((items[index].msg, why))
            # The state may be half-changed: start over from the committed one.
            self._cache.pop(execution_id, None)
            failed = _too_large_result(items[index].inp, why)
            if failed is not None:
                # A result too large to keep fails its activity, as a failure the workflow
                # can route (error edge), instead of leaving the node waiting for ever.
                items[index] = dataclasses.replace(items[index], inp=failed)
                continue
            del items[index]
        return StoredExecution(ExecutionState(execution_id)), None, [], rejected

    def _load(
        self, execution_id: str, partition: int, first: EngineInput, stores: PartitionStores
    ) -> StoredExecution:
        cached = self._cache.get(execution_id)
        if cached is not None:
            self._cache.move_to_end(execution_id)
            return cached
        data = stores.get(partition).get(execution_id.encode())
        if data is None:
            if isinstance(first, StartWorkflow) and not self._knows(first):
                self._catch_up_definitions()
            elif isinstance(first, ResetWorkflow):
                # Deciding a reset replays the source on its definitions (rare: always
                # make sure the catalog is current rather than dead-letter the reset).
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

    def _knows(self, start: StartWorkflow) -> bool:
        return self.feed.catalog.get(start.workflow_id, start.workflow_version) is not None

    def _catch_up_definitions(self) -> None:
        if not self.feed.wait_caught_up(DEFINITIONS_WAIT):
            log.warning("the definitions feed did not catch up within %ss", DEFINITIONS_WAIT)


class _BatchCounts:
    """Metrics of a committed batch's events (a decided but aborted or retried batch counts
    nothing), summed per label set first: a `labels()` lookup per event was a twentieth of
    the processor's work."""

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()
        self.started: Counter[str] = Counter()
        # Per (workflow, status) of the executions that closed: how long each ran.
        self.durations: defaultdict[tuple[str, str], list[float]] = defaultdict(list)

    def add(self, state: ExecutionState, events: Sequence[HistoryEvent]) -> None:
        for event in events:
            self.events[event.event_type] += 1
            if event.event_type == "WorkflowExecutionStarted":
                self.started[state.workflow_id] += 1
            elif event.is_terminal:
                seconds = max(0, event.timestamp_ms - state.started_at_ms) / 1000
                self.durations[state.workflow_id, state.status].append(seconds)

    def publish(self) -> None:
        for event_type, n in self.events.items():
            metrics.HISTORY_EVENTS.labels(event_type).inc(n)
        for workflow_id, n in self.started.items():
            metrics.EXECUTIONS_STARTED.labels(workflow_id).inc(n)
        for (workflow_id, status), all_seconds in self.durations.items():
            metrics.EXECUTIONS_COMPLETED.labels(workflow_id, status).inc(len(all_seconds))
            histogram = metrics.EXECUTION_DURATION.labels(workflow_id, status)
            for seconds in all_seconds:
                histogram.observe(seconds)


def _too_large(what: str, size: int) -> Rejected:
    return Rejected(
        "too_large",
        f"deciding this input would write {what} of {size} bytes; the largest record "
        f"LinkFlow writes is {MAX_RECORD_BYTES} bytes",
        "PayloadTooLarge",
    )


def _too_large_result(inp: EngineInput, why: Rejected) -> ActivityFailed | None:
    """The failure that replaces an activity result whose decision was too large."""
    if why.reason != "too_large" or not isinstance(inp, ActivityCompleted):
        return None
    return ActivityFailed(
        execution_id=inp.execution_id,
        activity_id=inp.activity_id,
        attempt=inp.attempt,
        error=Error(
            type="PayloadTooLarge",
            message=f"the activity's result cannot be kept: {why.detail} (the result is in "
            "linkflow.dlq)",
            retryable=False,
        ),
        identity=inp.identity,
        sent_at_ms=inp.sent_at_ms,
    )


def _dead(msg: Message, why: Rejected) -> DeadLetter:
    return DeadLetter(msg, why.reason, why.detail, why.error_type)


def build(config: HistoryConfig) -> HistoryProcessor:
    """The processor, its changelog created and the definitions loaded (blocking)."""
    bootstrap = config.bootstrap or settings.kafka_bootstrap()
    config = dataclasses.replace(config, bootstrap=bootstrap)
    history = describe_topic(bootstrap, config.topic(transport.HISTORY))
    check_record_limit(history)
    for name in (transport.COMMANDS, transport.RESULTS):
        source = describe_topic(bootstrap, config.topic(name))
        check_record_limit(source)
        if source.partitions != history.partitions:
            raise RuntimeError(
                f"{source.name} has {source.partitions} partitions and {history.name} "
                f"{history.partitions}: they must be co-partitioned (see topics/execution.yaml)"
            )
    check_record_limit(describe_topic(bootstrap, config.topic(transport.DLQ)))
    changelog = changelog_topic(config.app_id)
    ensure_changelog_topics(
        bootstrap, history, {changelog: f"execution state of history processor {config.app_id}"}
    )
    check_record_limit(describe_topic(bootstrap, changelog))
    quotas = quotas_from_environment()
    feed = DefinitionsFeed(bootstrap, topic=config.topic(transport.DEFINITIONS)).start()
    if not feed.wait_caught_up(60):
        raise RuntimeError("could not read linkflow.definitions to its end within 60 s")
    return HistoryProcessor(config, feed, quotas, history.partitions)


def run(config: HistoryConfig) -> int:
    """Run the history processor until SIGTERM/SIGINT; the exit code."""
    logging.basicConfig(
        level=config.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    processor = build(config)
    if config.metrics_port is not None:
        metrics.serve(config.metrics_port)
    signal.signal(signal.SIGTERM, processor.loop.stop)
    signal.signal(signal.SIGINT, processor.loop.stop)
    log.info(
        "history processor %s (transactional.id %s): %s -> %s (%d definitions)",
        config.app_id,
        processor.loop.transactional_id,
        ", ".join(processor.sources),
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
