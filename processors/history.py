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
faust-streaming). Instead every batch goes in this order:

1. decide: each input is decided at a time taken from the input itself (its record
   timestamp, never earlier than the execution's previous decision), so the same state and
   the same input always give byte-identical events;
2. send every history event and effect and wait until the broker has acknowledged all of
   them;
3. only then write the new states to the table (local RocksDB + changelog);
4. Faust commits the input offsets later, after flushing the changelog writes.

A crash before 3 leaves the table with the state from before the input; the input is read
again (its offset was not committed) and decided again against that same state at that same
time, which gives the same events with the same ids and contents, so history at worst holds
an identical copy of an event (readers keep one per (execution id, event id)). A crash after
3 but before 4 re-reads an input the stored state has already decided: each state records
the offset of the last input it took from each topic (`StoredExecution.applied`), and such
an input is skipped. Events are never lost: a state is stored only once its events are on
the broker. The same argument covers the effects (a task may be sent twice; the engine
ignores the result of an attempt that is no longer pending).

Bad input never stops a partition: an undecodable or invalid record, or one the engine
raises on, goes to `linkflow.dlq` with the reason and its source topic, partition and offset.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import EventT

from linkflow import metrics, settings, transport
from linkflow.engine import Engine, EngineInput, ExecutionState, StartWorkflow
from processors.definitions import DefinitionsFeed
from processors.faust_app import (
    DEFAULT_STANDBY_REPLICAS,
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
    Outgoing,
    Rejected,
    StoredExecution,
    outgoing,
    read_input,
)

log = logging.getLogger(__name__)

DEFAULT_APP_ID = "linkflow-history"
TABLE = "executions"
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

    async def _consume(self, stream: faust.StreamT) -> None:
        async for batch in stream.take_events(self.config.max_batch, self.config.batch_within):
            await self.handle_batch(batch)

    async def handle_batch(self, batch: Sequence[EventT]) -> None:
        started = time.perf_counter()
        by_execution: dict[str, list[_Item]] = defaultdict(list)
        for event in batch:
            message = event.message
            source = self._sources[message.topic]
            inp = read_input(source, message.key, message.value)
            if isinstance(inp, Rejected):
                await self._dead_letter(event, inp)
                continue
            now_ms = round(message.timestamp * 1000) if message.timestamp else 0
            by_execution[inp.execution_id].append(_Item(event, source, message.offset, now_ms, inp))

        decided: list[tuple[str, StoredExecution, EventT]] = []
        sends: list[Outgoing] = []
        for execution_id, items in by_execution.items():
            stored, records = await self._decide_execution(execution_id, items)
            if records:
                sends.extend(records)
                decided.append((execution_id, stored, items[-1].event))

        # Step 2 of the module docstring: every record acknowledged before any state moves.
        await self._send_all(sends)
        for execution_id, stored, event in decided:
            # The table writes to the changelog partition of the current event; a batch
            # mixes partitions, so name one of this execution's own events.
            _current_event.set(weakref.ref(event))
            self.table[execution_id.encode()] = stored.to_bytes()
        metrics.PROCESSOR_BATCH_SECONDS.labels("history").observe(time.perf_counter() - started)

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
