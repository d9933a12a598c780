"""The history processor: runs the pure engine over `linkflow.commands` and `linkflow.results`.

    linkflow engine run             # or: python -m processors.history

One Faust agent consumes both input topics (co-partitioned with `linkflow.history`, so the
instance that owns partition p of the inputs owns the executions whose history is on p). It
takes inputs in batches, folds each execution's inputs of the batch through
`linkflow.engine.Engine`, and keeps each execution's state in the RocksDB table `executions`
(with a changelog). What a decision writes: its history events to `linkflow.history`, its
activity tasks to `linkflow.tasks.<queue>`, child-workflow commands to `linkflow.commands`,
and a finished child's outcome to its parent on `linkflow.results`.

Crash safety, or why no event id ever carries two different events
-----------------------------------------------------------------
Kafka offers no atomic write across the history topic, the table's changelog and the input
offsets (Faust's exactly-once mode would, but it is the least exercised part of
faust-streaming). Re-deciding an input after a crash is not enough on its own: commands and
results are two topics, and after a restart their records may reach a batch in another
interleaving than before, so a second decision could differ from a first one whose events
were already sent. So a decision is made durable before anything it says leaves the
process, and each batch goes in this order:

1. decide: each input is decided at a time taken from the input itself (its record
   timestamp, never earlier than the execution's previous decision);
2. store: per table partition, an in-flight marker naming the batch and the executions it
   is about to store, then each new state in one table value together with its outbox
   (the records the decision sends: history events, tasks, child commands, the parent's
   notification); wait until the changelog has acknowledged all of it;
3. send the outboxes' records and wait until the broker has acknowledged them all;
4. delete the markers; Faust commits the input offsets after the batch, flushing first.

A crash before 2 is acknowledged sent nothing and stored at most states that the marker
lists. When the partition's next batch arrives (its inputs were not committed, so there is
one), `_recover` sends again the outbox of every listed execution whose stored value carries
that batch's id; an execution that still holds its older state sent nothing and its inputs
are simply decided again. The listed states go to the changelog again first (the local
store may hold writes the changelog never acknowledged). A crash in 3 or before the marker
is deleted does the same: the records go out a second time, byte-identical (readers keep
one per (execution id, event id); a task may run twice, and the engine ignores the result
of an attempt that is no longer pending). Inputs read again after a crash are skipped when
the stored state has taken them: each state records the offset of the last input it took
from each topic (`StoredExecution.applied`). Events are never lost: the states that hold
them are durable before they are sent, and a marker stays until they are acknowledged.

Inputs are never skipped either: the processor keeps its own offsets of every input
partition in the table, written with each batch, and seeks back when records arrive out of
order or sit on the broker unprocessed (`processors.continuity`), because faust-streaming
0.15.3 can drop records and commit past them around rebalances.

`crash_point` names the places the crash tests kill the processor (LINKFLOW_CRASH_AT).

Bad input never stops a partition: an undecodable or invalid record, or one the engine
raises on, goes to `linkflow.dlq` with the reason and its source topic, partition and offset.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import TP, EventT

from linkflow import metrics, settings, transport
from linkflow.engine import Engine, EngineInput, ExecutionState, StartWorkflow
from processors.continuity import Continuity, offsets_key
from processors.definitions import DefinitionsFeed
from processors.faust_app import (
    DEFAULT_STANDBY_REPLICAS,
    crash_point,
    dead_letter,
    describe_topic,
    ensure_changelogs,
    make_app,
    make_table,
    run_worker,
)
from processors.history_defaults import DEFAULT_BATCH_WITHIN, DEFAULT_MAX_BATCH
from processors.history_records import (
    COMMANDS,
    RESULTS,
    InFlight,
    Outgoing,
    Rejected,
    StoredExecution,
    in_flight_key,
    outgoing,
    read_input,
)

log = logging.getLogger(__name__)

DEFAULT_APP_ID = "linkflow-history"
TABLE = "executions"
# A start naming a workflow the feed has not loaded waits this long for the feed to reach
# the end of linkflow.definitions (register-then-start from another process races it).
DEFINITIONS_WAIT = 10.0
STALL_WARNING = 10.0
STALL_CHECK_INTERVAL = 1.0


@dataclass(frozen=True)
class HistoryConfig:
    app_id: str = DEFAULT_APP_ID
    bootstrap: str | None = None
    datadir: Path | None = None
    topic_prefix: str = ""  # prepended to every linkflow.* topic (tests use their own)
    max_batch: int = DEFAULT_MAX_BATCH
    batch_within: float = DEFAULT_BATCH_WITHIN
    standby_replicas: int = DEFAULT_STANDBY_REPLICAS
    session_timeout: float = 60.0
    metrics_port: int | None = None
    loglevel: str = "INFO"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


@dataclass(slots=True)
class _Item:
    event: EventT
    source: str
    offset: int
    now_ms: int
    inp: EngineInput


class HistoryProcessor:
    def __init__(
        self, config: HistoryConfig, partitions: int, feed: DefinitionsFeed, **app_overrides: Any
    ) -> None:
        self.config = config
        self.feed = feed
        self.engine = Engine(feed.catalog)
        self.app = app = make_app(
            config.app_id,
            bootstrap=config.bootstrap,
            datadir=config.datadir,
            standby_replicas=config.standby_replicas,
            broker_session_timeout=config.session_timeout,
            **app_overrides,
        )
        self.table = make_table(
            app, TABLE, partitions=partitions, help="execution id -> engine state"
        )
        self._sources = {
            config.topic(transport.COMMANDS): COMMANDS,
            config.topic(transport.RESULTS): RESULTS,
        }
        self.inputs = app.topic(*self._sources, key_type=bytes, value_type=bytes)
        self.dlq = app.topic(config.topic(transport.DLQ), key_type=bytes, value_type=bytes)
        app.agent(self.inputs, name=f"{config.app_id}.inputs")(self._consume)
        # Partitions whose in-flight marker this process has looked at since the last
        # rebalance, and what makes this process's batch ids unique.
        self._recovered: set[int] = set()
        self._instance = uuid.uuid4().hex[:12]
        self._batches = 0
        self.continuity = Continuity()
        self._busy = 0  # batches in progress: a long batch is not a stall
        app.timer(STALL_CHECK_INTERVAL)(self._check_stalls)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)

    async def _consume(self, stream: faust.StreamT) -> None:
        async for batch in stream.take_events(self.config.max_batch, self.config.batch_within):
            self._busy += 1
            try:
                await self.handle_batch(batch)
            finally:
                self._busy -= 1

    async def _check_stalls(self) -> None:
        """Seek back input partitions whose records are on the broker but not arriving
        (see `processors.continuity`); a partition that has had no batch since the
        assignment counts too."""
        consumer = self.app.consumer
        if self._busy or self.app.rebalancing or not self.app.flow_control.is_active():
            return
        tps = [tp for tp in consumer.assignment() if tp.topic in self._sources]
        if not tps:
            return
        for partition in {tp.partition for tp in tps}:
            self._load_offsets(partition, None)
        ends = await consumer.highwaters(*tps)
        highwaters = {(tp.topic, tp.partition): ends.get(tp) for tp in tps}
        for (topic, partition), offset in self.continuity.stalled(
            highwaters, time.monotonic()
        ).items():
            await consumer.seek(TP(topic, partition), offset)

    def _load_offsets(self, partition: int, anchor: EventT | None) -> None:
        """Read the stored input offsets of `partition` once per assignment; with no
        `anchor` event the store looks in every partition it holds."""
        if self.continuity.loaded(partition):
            return
        _current_event.set(weakref.ref(anchor) if anchor is not None else None)
        stored = self.table.get(offsets_key(partition))
        self.continuity.load(partition, self._sources, stored)

    async def handle_batch(self, batch: Sequence[EventT]) -> None:
        started = time.perf_counter()
        anchors: dict[int, EventT] = {}  # one event per partition of the batch
        for event in batch:
            anchors.setdefault(event.message.partition, event)
        for partition, anchor in anchors.items():
            self._load_offsets(partition, anchor)
        verdict = self.continuity.filter(batch, _position, time.monotonic())
        for (topic, partition), offset in verdict.seek.items():
            await self.app.consumer.seek(TP(topic, partition), offset)

        by_execution: dict[str, list[_Item]] = defaultdict(list)
        for event in verdict.keep:
            message = event.message
            source = self._sources[message.topic]
            inp = read_input(source, message.key, message.value)
            if isinstance(inp, Rejected):
                await self._dead_letter(event, inp)
                continue
            now_ms = round(message.timestamp * 1000) if message.timestamp else 0
            by_execution[inp.execution_id].append(_Item(event, source, message.offset, now_ms, inp))

        for partition, anchor in anchors.items():
            if partition not in self._recovered:
                await self._recover(anchor)

        by_partition: dict[int, list[tuple[str, StoredExecution, EventT]]] = defaultdict(list)
        sends: list[Outgoing] = []
        for execution_id, items in by_execution.items():
            stored, records = await self._decide_execution(execution_id, items)
            if records:
                sends.extend(records)
                stored.outbox = records
                event = items[-1].event
                by_partition[event.message.partition].append((execution_id, stored, event))

        # Steps 2 and 3 of the module docstring: the marker and the states (with their
        # outboxes) acknowledged by the changelog, then the records, then the marker goes.
        self._batches += 1
        batch_id = f"{self._instance}:{self._batches}"
        writes: list[Awaitable[Any]] = [
            self._put(anchor, offsets_key(partition), self.continuity.stored(partition))
            for partition, anchor in anchors.items()
        ]
        for partition, entries in by_partition.items():
            marker = InFlight(batch_id, tuple(e[0] for e in entries))
            key = in_flight_key(partition)
            writes.append(self._put(anchors[partition], key, marker.to_bytes()))
            for execution_id, stored, event in entries:
                stored.outbox_batch = batch_id
                writes.append(self._put(event, execution_id.encode(), stored.to_bytes()))
        await _patiently(asyncio.gather(*writes), "the changelog's acknowledgements", len(batch))
        if not sends:
            return
        crash_point("history.after_store")
        await _patiently(self._send_all(sends), "the records' acknowledgements", len(batch))
        crash_point("history.after_send")
        for partition in by_partition:
            _current_event.set(weakref.ref(anchors[partition]))
            del self.table[in_flight_key(partition)]
        metrics.PROCESSOR_BATCH_SECONDS.labels("history").observe(time.perf_counter() - started)

    def _put(self, event: EventT, key: bytes, value: bytes) -> Awaitable[Any]:
        """Write `key` to the store and changelog partition of `event`; the changelog send,
        to await its acknowledgement (a table assignment would drop it)."""
        _current_event.set(weakref.ref(event))
        sent = self.table.send_changelog(event.message.partition, key, value)
        self.table.data[key] = value
        return sent

    async def _recover(self, anchor: EventT) -> None:
        """Send again what a crashed batch stored but may not have sent (see `InFlight`)."""
        partition = anchor.message.partition
        _current_event.set(weakref.ref(anchor))
        data = self.table.get(in_flight_key(partition))
        if data is not None:
            marker = InFlight.from_bytes(data)
            records: list[Outgoing] = []
            writes: list[Awaitable[Any]] = []
            for execution_id in marker.executions:
                key = execution_id.encode()
                value = self.table.get(key)
                if value is None:
                    continue
                batch_id, outbox = StoredExecution.outbox_of(value)
                if batch_id == marker.batch:
                    records.extend(outbox)
                    # The crash may have come before the changelog had it (the local store
                    # has it all the same): write it again so another instance restoring
                    # this partition sees the state whose events are about to go out.
                    writes.append(self._put(anchor, key, value))
            await asyncio.gather(*writes)
            log.warning(
                "partition %d: sending again %d records of %d executions from an "
                "unfinished batch %s",
                partition,
                len(records),
                len(marker.executions),
                marker.batch,
            )
            await self._send_all(records)
            _current_event.set(weakref.ref(anchor))
            del self.table[in_flight_key(partition)]
        else:
            log.info("partition %d: first batch since the assignment", partition)
        self._recovered.add(partition)

    async def _on_revoked(self, app: Any, revoked: Any, **kwargs: Any) -> None:
        # Another instance may own a partition meanwhile: read its marker and offsets again.
        self._recovered.clear()
        self.continuity.forget()

    async def _on_assigned(self, app: Any, assigned: Any, **kwargs: Any) -> None:
        self._recovered.clear()
        self.continuity.forget()
        mine = sorted({tp.partition for tp in assigned if tp.topic in self._sources})
        log.info("input partitions assigned to this instance: %s", mine)

    async def _decide_execution(
        self, execution_id: str, items: list[_Item]
    ) -> tuple[StoredExecution, list[Outgoing]]:
        """Decide `items` (one execution's inputs, in offset order) against its stored state;
        the new state and the records to send. An input the engine raises on is
        dead-lettered and the others are decided without it."""
        anchor = items[0].event  # names the partition whose store holds the execution
        while True:
            stored = await self._load(execution_id, anchor, items[0].inp if items else None)
            records: list[Outgoing] = []
            if not items:
                return stored, records
            for index, item in enumerate(items):
                if stored.already_applied(item.source, item.offset):
                    continue
                now_ms = max(item.now_ms, stored.now_ms)
                try:
                    decision = self.engine.decide(stored.state, item.inp, now_ms)
                    sends = outgoing(decision.events, decision.effects, now_ms)
                except Exception as exc:  # an engine bug must not stop the partition
                    log.exception("engine failed on %s input %s", execution_id, item.inp)
                    await self._dead_letter(
                        item.event,
                        Rejected("engine_error", f"{type(exc).__name__}: {exc}", "EngineError"),
                    )
                    # The state may be half-changed: start over from the stored one.
                    del items[index]
                    break
                if decision.state is None:  # not a start, and no such execution
                    await self._dead_letter(
                        item.event,
                        Rejected(
                            "unknown_execution",
                            f"{type(item.inp).__name__} for execution {execution_id!r}, "
                            "which was never started",
                            "UnknownExecution",
                        ),
                    )
                    continue
                stored.state = decision.state
                stored.applied[item.source] = item.offset
                stored.now_ms = now_ms
                if decision.events:
                    records.extend(sends)
                    self._count(decision.state, decision.events)
            else:
                return stored, records

    async def _load(
        self, execution_id: str, anchor: EventT, first: EngineInput | None
    ) -> StoredExecution:
        # A table read looks in the store of the current event's partition only.
        _current_event.set(weakref.ref(anchor))
        data = self.table.get(execution_id.encode())
        if data is None:
            if isinstance(first, StartWorkflow) and not self._knows(first):
                await self._catch_up_definitions()
            return StoredExecution(ExecutionState(execution_id, plans=self.feed.catalog))
        stored = StoredExecution.from_bytes(data, self.feed.catalog)
        state = stored.state
        if (
            state.workflow_id
            and self.feed.catalog.get(state.workflow_id, state.workflow_version) is None
        ):
            await self._catch_up_definitions()
            stored = StoredExecution.from_bytes(data, self.feed.catalog)
        return stored

    def _knows(self, start: StartWorkflow) -> bool:
        return self.feed.catalog.get(start.workflow_id, start.workflow_version) is not None

    async def _catch_up_definitions(self) -> None:
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self.feed.wait_caught_up, DEFINITIONS_WAIT):
            log.warning("the definitions feed did not catch up within %ss", DEFINITIONS_WAIT)

    async def _send_all(self, records: Iterable[Outgoing]) -> None:
        producer = await self.app.maybe_start_producer()
        topic = self.config.topic
        pending = [
            await producer.send(
                topic(r.topic), r.key, r.value, partition=None, timestamp=None, headers=None
            )
            for r in records
        ]
        if pending:
            await asyncio.gather(*pending)

    async def _dead_letter(self, event: EventT, why: Rejected) -> None:
        await dead_letter(
            self.app, self.dlq, event, why.reason, why.detail, error_type=why.error_type
        )

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


async def _patiently(awaitable: Awaitable[Any], what: str, inputs: int) -> None:
    """Await `awaitable`, saying so in the log every STALL_WARNING seconds it takes: a batch
    that waits on the broker holds up its partitions, and that should show."""
    task = asyncio.ensure_future(awaitable)
    waited = 0.0
    while True:
        done, _ = await asyncio.wait({task}, timeout=STALL_WARNING)
        if done:
            task.result()
            return
        waited += STALL_WARNING
        log.warning("a batch of %d inputs has waited %.0f s for %s", inputs, waited, what)


def _position(event: EventT) -> tuple[str, int, int]:
    message = event.message
    return message.topic, message.partition, message.offset


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
    feed = DefinitionsFeed(bootstrap, topic=config.topic(transport.DEFINITIONS)).start()
    if not feed.wait_caught_up(60):
        raise RuntimeError("could not read linkflow.definitions to its end within 60 s")
    processor = HistoryProcessor(config, history.partitions, feed)
    ensure_changelogs(processor.app, bootstrap, history)
    return processor


def run(config: HistoryConfig) -> int:
    """Run the history processor until SIGTERM/SIGINT; the exit code."""
    processor = build(config)
    if config.metrics_port is not None:
        metrics.serve(config.metrics_port)
    log.info(
        "history processor %s: %s -> %s (%d definitions)",
        config.app_id,
        ", ".join(processor.inputs.topics),
        config.topic(transport.HISTORY),
        sum(1 for _ in processor.feed.catalog),
    )
    try:
        return run_worker(processor.app, loglevel=config.loglevel)
    finally:
        processor.feed.stop()


if __name__ == "__main__":
    from linkflow.cli.main import main

    sys.exit(main(["engine", "run", *sys.argv[1:]]))
