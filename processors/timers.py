"""The timers processor: durable timers (waits, retry backoff, timeouts) from history.

    linkflow timers run            # or: python -m processors.timers

It consumes `linkflow.history` and keeps every pending timer in RocksDB tables with
changelogs (`processors.timers_state`):

- TimerStarted adds a timer; TimerFired or TimerCanceled removes it; a terminal event
  (completed, failed, timed out, cancelled, terminated, continued-as-new) removes all of the
  execution's timers. Nothing else writes the tables: Faust only lets a table change inside
  stream iteration, and keeping history the only writer makes the tables a pure function
  of it.
- A background loop (`processors.timers_firing`) reads the stores of the partitions this
  instance owns in due order and produces a TimerFired input for each due timer to
  `linkflow.results`, keyed by execution id, so it lands on the partition of the execution
  (aiokafka's murmur2, as Java clients and Faust choose). It resends a timer until history
  confirms it; the engine drops duplicates.

Crash safety: history offsets are committed after the changelog writes are flushed, and a
restarted instance (or one that took over a partition) sends every due timer again. A
timer may fire more than once; it never fires before its time and never gets lost.
Undecodable history records go to the dead-letter topic and processing continues.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT

from linkflow import metrics, settings, transport
from linkflow.codec import DecodeError, decode_history, encode_result
from processors.faust_app import (
    DEFAULT_STANDBY_REPLICAS,
    dead_letter,
    ensure_changelogs,
    make_app,
    make_table,
    run_worker,
)
from processors.timers_firing import (
    DEFAULT_MAX_BATCH,
    DEFAULT_RESEND_INTERVAL,
    DEFAULT_TICK,
    Firer,
    OrderedStore,
)
from processors.timers_state import (
    RELEVANT_EVENTS,
    TIMER_CANCELED,
    TIMER_FIRED,
    TIMER_STARTED,
    Timer,
    TimerTables,
    timer_from_event,
)
from processors.topics import describe_topic

log = logging.getLogger(__name__)

DEFAULT_APP_ID = "linkflow-timers"
DUE_TABLE = "timers"
INDEX_TABLE = "timer_index"
_PENDING_GAUGE_INTERVAL = 1.0


@dataclass(frozen=True)
class TimersConfig:
    app_id: str = DEFAULT_APP_ID
    bootstrap: str | None = None
    datadir: Path | None = None
    # Prepended to every linkflow.* topic name (tests use their own topics on one broker).
    topic_prefix: str = ""
    tick: float = DEFAULT_TICK
    resend_interval: float = DEFAULT_RESEND_INTERVAL
    max_batch: int = DEFAULT_MAX_BATCH
    standby_replicas: int = DEFAULT_STANDBY_REPLICAS
    session_timeout: float = 60.0
    metrics_port: int | None = None
    loglevel: str = "INFO"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


class TimersProcessor:
    """The Faust app, its tables and the firing loop, wired together."""

    def __init__(self, config: TimersConfig, partitions: int, **app_overrides: Any) -> None:
        self.config = config
        self.app = app = make_app(
            config.app_id,
            bootstrap=config.bootstrap,
            datadir=config.datadir,
            standby_replicas=config.standby_replicas,
            broker_session_timeout=config.session_timeout,
            **app_overrides,
        )
        self.due = make_table(
            app, DUE_TABLE, partitions=partitions, help="pending timers by due time"
        )
        self.index = make_table(
            app, INDEX_TABLE, partitions=partitions, help="execution+timer id -> due key"
        )
        self.tables = TimerTables(self.due, self.index)  # type: ignore[arg-type]
        self.history = app.topic(config.topic(transport.HISTORY), key_type=bytes, value_type=bytes)
        self.results = app.topic(config.topic(transport.RESULTS), key_type=bytes, value_type=bytes)
        self.dlq = app.topic(config.topic(transport.DLQ), key_type=bytes, value_type=bytes)
        self.firer = Firer(
            self._send_fired,
            resend_interval=config.resend_interval,
            max_batch=config.max_batch,
            observe_lateness=self._observe_lateness,
        )
        self._seen_rebalances = -1
        self._pending_updated = 0.0
        app.agent(self.history, name=f"{config.app_id}.history")(self._consume)
        app.task(self._fire)

    # -- the stream: the only writer of the tables ---------------------------------------

    async def _consume(self, stream: faust.StreamT) -> None:
        async for event in stream.events():
            await self.handle(event)

    async def handle(self, event: EventT) -> None:
        data = event.message.value
        if not data:
            await dead_letter(self.app, self.dlq, event, "empty", "no value")
            return
        try:
            history = decode_history(data)
        except DecodeError as exc:
            await dead_letter(self.app, self.dlq, event, str(exc.reason), exc.detail)
            return
        event_type = history["event_type"]
        if event_type not in RELEVANT_EVENTS:
            return
        partition = event.message.partition
        firer = self.firer
        if event_type == TIMER_STARTED:
            added, replaced = self.tables.start(timer_from_event(history))
            if replaced is not None:
                firer.on_removed(partition, replaced)
            if added is not None:
                firer.on_added(partition, added)
        elif event_type in (TIMER_FIRED, TIMER_CANCELED):
            timer_id = history["attributes"]["timer_id"]
            removed = self.tables.remove(history["execution_id"], timer_id)
            if removed is not None:
                firer.on_removed(partition, removed)
        else:
            scan = self._index_prefix_scan(partition)
            for removed in self.tables.remove_execution(scan, history["execution_id"]):
                firer.on_removed(partition, removed)

    def _index_prefix_scan(self, partition: int) -> Any:
        db = self.index.data._db_for_partition(partition)  # type: ignore[attr-defined]

        def keys(prefix: bytes) -> Iterator[bytes]:
            it = db.iter()
            it.seek(prefix)
            while it.valid():
                key = it.key()
                if not key.startswith(prefix):
                    return
                yield key
                it.next()

        return keys

    # -- the firing loop: reads the stores, never writes them ------------------------------

    async def _fire(self) -> None:
        await self.firer.run(
            self._active_stores, tick=self.config.tick, stopped=lambda: self.app.should_stop
        )

    def _active_stores(self) -> Mapping[int, OrderedStore] | None:
        app = self.app
        if app.rebalancing or app.in_recovery or not app.tables.recovery.completed.is_set():
            return None
        if app.rebalancing_count != self._seen_rebalances:
            # Partitions may have moved and stores been restored from changelogs.
            self._seen_rebalances = app.rebalancing_count
            self.firer.reset()
        topic = self.due.changelog_topic_name
        store = self.due.data
        stores = {
            tp.partition: store._db_for_partition(tp.partition)  # type: ignore[attr-defined]
            for tp in sorted(app.assignor.assigned_actives())
            if tp.topic == topic
        }
        self._update_pending_gauge(stores)
        return stores

    def _update_pending_gauge(self, stores: Mapping[int, Any]) -> None:
        now = time.monotonic()
        if now - self._pending_updated < _PENDING_GAUGE_INTERVAL:
            return
        self._pending_updated = now
        # RocksDB's estimate is cheap and close enough for a gauge; the store also holds
        # Faust's offset key, hence the -1.
        estimate = sum(
            max(0, (db.property_int_value("rocksdb.estimate-num-keys") or 0) - 1)
            for db in stores.values()
        )
        metrics.TIMERS_PENDING.set(estimate)

    async def _send_fired(self, timer: Timer, fired_at_ms: int) -> None:
        value = encode_result(
            {
                "input_type": "TimerFired",
                "execution_id": timer.execution_id,
                "sent_at_ms": fired_at_ms,
                "timer_id": timer.timer_id,
                "fired_at_ms": fired_at_ms,
            }
        )
        # force: a background task has no event to attach the send to; send it now.
        await self.results.send(key=timer.execution_id.encode(), value=value, force=True)

    def _observe_lateness(self, seconds: float) -> None:
        metrics.TIMER_LATENESS.observe(seconds)


def build(config: TimersConfig) -> TimersProcessor:
    """The processor, with its changelog topics created (blocking: call before the loop)."""
    bootstrap = config.bootstrap or settings.kafka_bootstrap()
    config = dataclasses.replace(config, bootstrap=bootstrap)
    history = describe_topic(bootstrap, config.topic(transport.HISTORY))
    results = describe_topic(bootstrap, config.topic(transport.RESULTS))
    if results.partitions != history.partitions:
        raise RuntimeError(
            f"{results.name} has {results.partitions} partitions and {history.name} "
            f"{history.partitions}: they must be co-partitioned (see topics/execution.yaml)"
        )
    describe_topic(bootstrap, config.topic(transport.DLQ))
    processor = TimersProcessor(config, history.partitions)
    ensure_changelogs(processor.app, bootstrap, history)
    return processor


def run(config: TimersConfig) -> int:
    """Run the timers processor until SIGTERM/SIGINT; the exit code."""
    processor = build(config)
    if config.metrics_port is not None:
        metrics.serve(config.metrics_port)
    log.info(
        "timers processor %s: %s -> %s",
        config.app_id,
        processor.history.get_topic_name(),
        processor.results.get_topic_name(),
    )
    return run_worker(processor.app, loglevel=config.loglevel)


if __name__ == "__main__":
    from linkflow.cli.main import main

    sys.exit(main(["timers", "run", *sys.argv[1:]]))
