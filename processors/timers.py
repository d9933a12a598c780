"""The timers processor: durable timers (waits, retry backoff, timeouts) from history.

    linkflow timers run            # or: python -m processors.timers

It consumes `linkflow.history` and keeps every pending timer in one RocksDB store per
history partition (`processors.timers_state` says how the keys look):

- TimerStarted adds a timer; TimerFired or TimerCanceled removes it; a terminal event
  (completed, failed, timed out, cancelled, terminated, continued-as-new) removes all of the
  execution's timers. Nothing else changes the stores, so they are a pure function of
  history.
- Between batches the firer (`processors.timers_firing`) reads the stores of the partitions
  this instance owns in due order and produces a TimerFired input for each due timer to
  `linkflow.results`, keyed by execution id, so it lands on the partition of the execution.
  It resends a timer until history confirms it; the engine drops duplicates.

The stream side runs the same loop as the history processor (`processors.exactly_once`):
each batch's store changes go to the changelog topic in one transaction with the history
offsets, so a restarted instance, or one that took over a partition, restores exactly the
timers of the history it has read. TimerFired records are produced outside transactions
(a plain idempotent producer): a timer may fire more than once, never before its time, and
is never lost. A firing pass runs after every poll, so a timer fires at most about 0.1 s
(the poll timeout) after it is due. Undecodable history records go to the dead-letter topic
and processing continues.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from confluent_kafka import Message, Producer

from linkflow import metrics, settings, transport
from linkflow.codec import DecodeError, codec, decode_history, encode_result
from linkflow.codec.framing import read_header
from processors.exactly_once import (
    DeadLetter,
    LoopConfig,
    Output,
    TransactionalLoop,
    changelog_topic,
)
from processors.history_defaults import DEFAULT_TRANSACTION_TIMEOUT
from processors.state_store import PartitionStore, PartitionStores
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
from processors.topics import check_record_limit, describe_topic, ensure_changelog_topics

log = logging.getLogger(__name__)

DEFAULT_APP_ID = "linkflow-timers"
INPUT_BATCH = 1000  # history records per transaction at most
# Batches (transactions) start at most this often. The timers processor reads every history
# event, and most change nothing; a transaction per poll would cost the broker more than
# the history processor's. A timer is in the store this much later at worst, which only
# matters to a timer due sooner than that (it then fires that late).
BATCH_INTERVAL = 0.1
_PENDING_GAUGE_INTERVAL = 1.0
# Every event type that can change the stores contains one of these in its encoded
# envelope (event_type is a plain Avro string): any other record is skipped undecoded.
_MAY_MATTER = (b"Timer", b"WorkflowExecution")


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
    session_timeout: float = 60.0
    transaction_timeout: float = DEFAULT_TRANSACTION_TIMEOUT
    metrics_port: int | None = None
    loglevel: str = "INFO"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def loop_config(self) -> LoopConfig:
        return LoopConfig.of(
            self, name="timers", max_batch=INPUT_BATCH, batch_within=BATCH_INTERVAL
        )


class _BatchView:
    """One partition store as a batch sees it: its own writes over the committed values.
    The writes are what the batch commits (None deletes)."""

    def __init__(self, store: PartitionStore) -> None:
        self.store = store
        self.writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.store.get(key)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes[key] = value

    def __delitem__(self, key: bytes) -> None:
        self.writes[key] = None

    def keys_with_prefix(self, prefix: bytes) -> Iterator[bytes]:
        seen = set()
        for key in self.store.keys_from(prefix):
            if not key.startswith(prefix):
                break
            seen.add(key)
            if self.writes.get(key, b"") is not None:
                yield key
        for key, value in list(self.writes.items()):
            if key.startswith(prefix) and key not in seen and value is not None:
                yield key


class TimersProcessor:
    """The stream side (`processors.exactly_once.BatchProcessor`) and the firer."""

    def __init__(self, config: TimersConfig) -> None:
        assert config.bootstrap is not None
        self.config = config
        self.history_topic = config.topic(transport.HISTORY)
        self.results_topic = config.topic(transport.RESULTS)
        self.loop = TransactionalLoop(config.loop_config(), [self.history_topic])
        self.producer = Producer(transport.producer_config(config.bootstrap))
        self.firer = Firer(
            self._send_fired,
            resend_interval=config.resend_interval,
            max_batch=config.max_batch,
            tick=config.tick,
            observe_lateness=metrics.TIMER_LATENESS.observe,
        )
        # (partition, added due keys, removed due keys) of the batch being committed.
        self._changes: list[tuple[int, list[bytes], list[bytes]]] = []
        self._pending_updated = 0.0

    def run(self) -> None:
        try:
            self.loop.run(self)
        finally:
            self.producer.flush(5)

    # -- the loop's hooks -----------------------------------------------------------------

    def handle(self, batch: Sequence[Message], stores: PartitionStores) -> Output:
        output = Output()
        views: dict[int, _BatchView] = {}
        self._changes = []
        for msg in batch:
            value = msg.value()
            if not value:
                output.dead_letters.append(DeadLetter(msg, "empty", "no value"))
                continue
            try:
                if not any(mark in value for mark in _MAY_MATTER):
                    if read_header(value) not in _history_fingerprints():
                        decode_history(value)  # raises, saying why
                    continue
                history = decode_history(value)
            except DecodeError as exc:
                output.dead_letters.append(DeadLetter(msg, str(exc.reason), exc.detail))
                continue
            event_type = history["event_type"]
            if event_type not in RELEVANT_EVENTS:
                continue
            partition = msg.partition()
            view = views.get(partition)
            if view is None:
                view = views[partition] = _BatchView(stores.get(partition))
            self._apply(partition, view, event_type, history)
        for partition, view in views.items():
            if view.writes:
                output.values[partition] = view.writes
        return output

    def _apply(
        self, partition: int, view: _BatchView, event_type: str, history: Mapping[str, object]
    ) -> None:
        tables = TimerTables(view, view)  # type: ignore[arg-type]
        added: list[bytes] = []
        removed: list[bytes] = []
        if event_type == TIMER_STARTED:
            key, replaced = tables.start(timer_from_event(dict(history)))
            added += [key] if key is not None else []
            removed += [replaced] if replaced is not None else []
        elif event_type in (TIMER_FIRED, TIMER_CANCELED):
            attributes = history["attributes"]
            assert isinstance(attributes, dict)
            gone = tables.remove(str(history["execution_id"]), attributes["timer_id"])
            removed += [gone] if gone is not None else []
        else:
            removed += tables.remove_execution(view.keys_with_prefix, str(history["execution_id"]))
        if added or removed:
            self._changes.append((partition, added, removed))

    def committed(self, output: Output) -> None:
        for partition, added, removed in self._changes:
            for key in removed:
                self.firer.on_removed(partition, key)
            for key in added:
                self.firer.on_added(partition, key)
        self._changes = []

    def aborted(self) -> None:
        self._changes = []

    def assigned(self, partitions: list[int]) -> None:
        # The stores may hold timers this process never saw arrive.
        self.firer.reset()

    def revoked(self) -> None:
        self.firer.reset()

    def idle(self) -> None:
        stores: dict[int, OrderedStore] = {p: self.loop.stores.get(p) for p in self.loop.owned}
        self.firer.poll(stores)
        self.producer.poll(0)  # delivery reports
        self._update_pending_gauge(stores)

    # -- firing ---------------------------------------------------------------------------

    def _send_fired(self, timer: Timer, fired_at_ms: int) -> None:
        value = encode_result(
            {
                "input_type": "TimerFired",
                "execution_id": timer.execution_id,
                "sent_at_ms": fired_at_ms,
                "timer_id": timer.timer_id,
                "fired_at_ms": fired_at_ms,
            }
        )
        try:
            self.producer.produce(self.results_topic, value, timer.execution_id.encode())
        except BufferError:
            self.producer.poll(1.0)
            self.producer.produce(self.results_topic, value, timer.execution_id.encode())

    def _update_pending_gauge(self, stores: Mapping[int, OrderedStore]) -> None:
        now = time.monotonic()
        if now - self._pending_updated < _PENDING_GAUGE_INTERVAL:
            return
        self._pending_updated = now
        # RocksDB's estimate is cheap and close enough for a gauge; half the keys are the
        # index's.
        estimate = sum(
            store.estimated_keys() for store in stores.values() if isinstance(store, PartitionStore)
        )
        metrics.TIMERS_PENDING.set(estimate // 2)


@cache
def _history_fingerprints() -> frozenset[bytes]:
    return codec("history").known_fingerprints


def build(config: TimersConfig) -> TimersProcessor:
    """The processor, with its changelog topic created (blocking)."""
    bootstrap = config.bootstrap or settings.kafka_bootstrap()
    config = dataclasses.replace(config, bootstrap=bootstrap)
    history = describe_topic(bootstrap, config.topic(transport.HISTORY))
    results = describe_topic(bootstrap, config.topic(transport.RESULTS))
    if results.partitions != history.partitions:
        raise RuntimeError(
            f"{results.name} has {results.partitions} partitions and {history.name} "
            f"{history.partitions}: they must be co-partitioned (see topics/execution.yaml)"
        )
    # Fired timers are small, but a dead letter carries the history record it refuses.
    check_record_limit(describe_topic(bootstrap, config.topic(transport.DLQ)))
    ensure_changelog_topics(
        bootstrap,
        history,
        {changelog_topic(config.app_id): f"pending timers of timers processor {config.app_id}"},
    )
    return TimersProcessor(config)


def run(config: TimersConfig) -> int:
    """Run the timers processor until SIGTERM/SIGINT; the exit code."""
    logging.basicConfig(
        level=config.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    processor = build(config)
    if config.metrics_port is not None:
        metrics.serve(config.metrics_port)
    signal.signal(signal.SIGTERM, processor.loop.stop)
    signal.signal(signal.SIGINT, processor.loop.stop)
    log.info(
        "timers processor %s (transactional.id %s): %s -> %s",
        config.app_id,
        processor.loop.transactional_id,
        processor.history_topic,
        processor.results_topic,
    )
    processor.run()
    return 0


if __name__ == "__main__":
    from linkflow.cli.main import main

    sys.exit(main(["timers", "run", *sys.argv[1:]]))
