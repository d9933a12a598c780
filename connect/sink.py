"""The visibility sink: project `linkflow.history` into PostgreSQL, exactly once.

    Sink(SinkConfig(bootstrap, database_url)).run()   # until stop() (SIGTERM in the CLI)

Offsets live in PostgreSQL (`sink_offsets`), written in the same transaction as the rows a
batch produced, so after any crash the sink resumes exactly where its last commit left off;
Kafka's committed offsets are never used. The consumer group only decides which sink
instance owns which partitions. A newly assigned partition stays paused until its stored
offset is read and the consumer seeked there (see connect/partitions.py).

Failures:
- PostgreSQL unavailable (restart, outage, dropped connection): the batch is kept, owned
  partitions are paused, and the write is retried with exponential backoff; the consumer
  keeps polling so the group does not evict it. Nothing is skipped.
- A record that cannot be decoded goes to the dead-letter topic (acknowledged before the
  offset moves past it). A record the database refuses (bad data) is isolated by halving the
  batch and dead-lettered alone, so one bad event cannot stall the sink.
- Another instance (or an operator resetting `sink_offsets`) moved a partition's offset:
  the write is fenced, nothing is written for that partition, and it restarts from the
  stored offset.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from connect import store
from connect.backoff import Backoff
from connect.dead_letter import DeadLetter, DeadLetterWriter
from connect.decode import Item, decode_records
from connect.migrate import migrate
from connect.partitions import Partitions
from linkflow import metrics, transport

log = logging.getLogger(__name__)

DEFAULT_GROUP = "linkflow-visibility-sink"
# The broker allows no less than 6 s; librdkafka would take 45 s. A crashed sink holds its
# partitions this long, so every new row waits that long after a SIGKILL.
DEFAULT_SESSION_TIMEOUT = 10.0
# The shortest time between the starts of two batches (each one PostgreSQL transaction):
# under load a batch gathers this long; after a quiet spell a record is written at once.
# Fewer, larger transactions cost PostgreSQL much less per event.
DEFAULT_BATCH_WITHIN = 0.02
SOURCE = "visibility-sink"
REPORT_EVERY = 30.0  # seconds between progress lines in the log

# Raised by psycopg for data the database refuses: retrying the same batch cannot help.
_POISON = (psycopg.DataError, psycopg.IntegrityError)
# Raised by the projection for an event whose attributes do not have the documented shape.
_MALFORMED = (KeyError, TypeError, ValueError)


@dataclass(frozen=True, slots=True)
class SinkConfig:
    bootstrap: str
    database_url: str
    topic: str = transport.HISTORY
    group: str = DEFAULT_GROUP
    dlq_topic: str = transport.DLQ
    batch_size: int = 5000
    poll_timeout: float = 0.5
    batch_within: float = DEFAULT_BATCH_WITHIN
    max_backoff: float = 15.0
    consumer_overrides: tuple[tuple[str, Any], ...] = ()


class Sink:
    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        self.partitions = Partitions()
        self._stopping = False
        self._last_batch_at = 0.0
        self._conn: psycopg.Connection[Any] | None = None
        self._consumer: Consumer | None = None
        self._dlq: DeadLetterWriter | None = None
        self._backoff = Backoff(maximum=config.max_backoff)
        self._paused_for_outage = False
        self._cooperative = True
        self._outage_since: float | None = None
        self._last_lag = 0.0
        self._last_report = time.monotonic()
        self._reported_events = 0
        self.events_projected = 0

    # -- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask `run` to finish the current batch and return; safe from a signal handler."""
        self._stopping = True

    def run(self) -> None:
        cfg = self.config
        if not self._wait_for_database(lambda: migrate(cfg.database_url)):
            return
        settings = transport.consumer_config(
            cfg.bootstrap, cfg.group, **dict(cfg.consumer_overrides)
        )
        self._cooperative = "cooperative" in str(settings.get("partition.assignment.strategy"))
        consumer = Consumer(settings)
        self._consumer = consumer
        self._dlq = DeadLetterWriter(cfg.bootstrap, cfg.dlq_topic)
        consumer.subscribe(
            [cfg.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        log.info("sink consuming %s as group %s", cfg.topic, cfg.group)
        try:
            while not self._stopping:
                self._loop_once(consumer)
        finally:
            consumer.close()
            self._dlq.close()
            if self._conn is not None:
                self._conn.close()
            log.info("sink stopped after projecting %d events", self.events_projected)

    def _loop_once(self, consumer: Consumer) -> None:
        if self.partitions.pending():
            self._retrying(self._start_pending)
            if self._stopping:
                return
        # consume() waits out its whole timeout unless it fills the batch: block for one
        # record only, then gather until `batch_within` after the previous batch began.
        messages = consumer.consume(1, self.config.poll_timeout)
        if messages and self.config.batch_size > 1:
            wait = self._last_batch_at + self.config.batch_within - time.monotonic()
            messages += consumer.consume(self.config.batch_size - 1, max(0.0, wait))
            self._last_batch_at = time.monotonic()
        records = [m for m in messages if self._usable(m)]
        if records:
            self._project(records)
        now = time.monotonic()
        if now - self._last_lag >= 1.0:
            self._last_lag = now
            self._export_lag(consumer)
        if now - self._last_report >= REPORT_EVERY:
            projected = self.events_projected - self._reported_events
            if projected:
                log.info(
                    "projected %d events in the last %.0fs (%.0f/s), %d in total",
                    projected,
                    now - self._last_report,
                    projected / (now - self._last_report),
                    self.events_projected,
                )
            self._last_report = now
            self._reported_events = self.events_projected

    def _usable(self, message: Message) -> bool:
        err = message.error()
        if err is not None:
            if err.fatal():
                raise KafkaException(err)
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error: %s", err)
            return False
        partition = message.partition()
        offset = message.offset()
        return (
            message.topic() == self.config.topic
            and partition is not None
            and offset is not None
            and self.partitions.accepts(partition, offset)
        )

    # -- rebalance callbacks (run inside consume()) ----------------------------------------

    def _on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        parts = [tp.partition for tp in assigned if tp.topic == self.config.topic]
        log.info("assigned partitions %s", parts)
        self.partitions.assign(parts)
        if self._cooperative:
            consumer.incremental_assign(assigned)
        else:
            consumer.assign(assigned)
        # No fetching until the stored offset is known: `_start_pending` seeks and resumes.
        consumer.pause(assigned)

    def _on_revoke(self, consumer: Consumer, revoked: list[TopicPartition]) -> None:
        parts = [tp.partition for tp in revoked if tp.topic == self.config.topic]
        log.info("revoked partitions %s", parts)
        self.partitions.revoke(parts)
        for p in parts:
            self._forget_lag(p)
        if self._cooperative:
            consumer.incremental_unassign(revoked)
        else:
            consumer.unassign()

    # -- database --------------------------------------------------------------------------

    def _db(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.config.database_url,
                autocommit=True,
                connect_timeout=5,
                application_name=f"linkflow-sink:{self.config.group}",
            )
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def _wait_for_database(self, action: Any) -> bool:
        """Run `action` until it does not fail with a connection-level error; False when the
        sink was asked to stop first."""
        backoff = Backoff(maximum=self.config.max_backoff)
        while not self._stopping:
            try:
                action()
                return True
            except psycopg.OperationalError as exc:
                delay = backoff.next_delay()
                log.warning("database unavailable (%s); retrying in %.1fs", _short(exc), delay)
                deadline = time.monotonic() + delay
                while not self._stopping and time.monotonic() < deadline:
                    time.sleep(0.1)
        return False

    def _retrying(self, action: Any) -> bool:
        """Run `action(conn)`; on a transient database or Kafka error wait and retry.

        False when the sink was asked to stop before `action` succeeded.
        """
        while not self._stopping:
            try:
                action(self._db())
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._drop_connection()
                self._outage(f"database unavailable: {_short(exc)}")
            except (psycopg.Error, KafkaException) as exc:
                # Not a lost connection, and not bad data (handled by the caller): most likely
                # an operator-fixable problem (permissions, schema, broker down). Keep waiting.
                self._drop_connection()
                self._outage(f"{type(exc).__name__}: {_short(exc)}")
            else:
                self._recovered()
                return True
        return False

    def _outage(self, why: str) -> None:
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
        metrics.SINK_DB_RETRIES.inc()
        delay = self._backoff.next_delay()
        log.warning(
            "%s; holding the batch, retry %d in %.1fs (waiting %.0fs so far)",
            why,
            self._backoff.attempts,
            delay,
            now - self._outage_since,
        )
        self._pause_all()
        self._idle(delay)

    def _recovered(self) -> None:
        if self._outage_since is not None:
            log.info(
                "database reachable again after %.1fs; resuming",
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None
        self._backoff.reset()
        self._resume_all()

    def _pause_all(self) -> None:
        if self._consumer is None or self._paused_for_outage:
            return
        ready = [TopicPartition(self.config.topic, p) for p in self.partitions.ready()]
        if ready:
            self._consumer.pause(ready)
        self._paused_for_outage = True

    def _resume_all(self) -> None:
        """Resume what `_pause_all` paused, from the positions of the sink (anything fetched
        while paused was dropped, so seek first)."""
        if self._consumer is None or not self._paused_for_outage:
            return
        self._paused_for_outage = False
        tps = []
        for p in self.partitions.ready():
            state = self.partitions.get(p)
            assert state is not None
            tp = TopicPartition(self.config.topic, p, state.position)
            self._consumer.seek(tp)
            tps.append(tp)
        if tps:
            self._consumer.resume(tps)

    def _idle(self, seconds: float) -> None:
        """Wait while serving the consumer (heartbeats, rebalances); records are dropped and
        fetched again after the seek in `_resume_all`."""
        deadline = time.monotonic() + seconds
        assert self._consumer is not None
        while not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._consumer.consume(self.config.batch_size, min(remaining, 0.5))
            self._export_lag(self._consumer)

    # -- partitions ------------------------------------------------------------------------

    def _start_pending(self, conn: psycopg.Connection[Any]) -> None:
        assert self._consumer is not None
        pending = self.partitions.pending()
        if not pending:
            return
        stored = store.read_offsets(conn, self.config.group, self.config.topic, pending)
        tps = []
        for p in pending:
            offset = stored.get(p)
            tp = TopicPartition(
                self.config.topic, p, offset if offset is not None else OFFSET_BEGINNING
            )
            self._consumer.seek(tp)
            self.partitions.start(p, offset)
            tps.append(tp)
        if not self._paused_for_outage:
            self._consumer.resume(tps)
        log.info(
            "partitions %s start at %s",
            pending,
            {p: stored.get(p, "beginning") for p in pending},
        )

    def _fenced(self, partitions: Sequence[int]) -> None:
        assert self._consumer is not None
        tps = [TopicPartition(self.config.topic, p) for p in partitions]
        self._consumer.pause(tps)
        for p in partitions:
            self.partitions.reset(p)

    # -- batches ---------------------------------------------------------------------------

    def _project(self, records: list[Message]) -> None:
        started = time.perf_counter()
        decoded = decode_records(records)
        letters = [
            DeadLetter(
                topic=self.config.topic,
                partition=r.partition,
                offset=r.offset,
                key=r.key,
                value=r.value,
                headers=r.headers,
                reason=r.reason,
                error_type=r.error_type,
                detail=r.error,
            )
            for r in decoded.rejected
        ]
        self._write(decoded.items, letters)
        metrics.SINK_BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.SINK_BATCH_EVENTS.observe(len(records))

    def _write(self, items: list[Item], letters: list[DeadLetter]) -> None:
        """Write one batch: `items` are (partition, offset, event or None) in consume order."""
        sent_letters = False
        while not self._stopping:
            # Ownership may have changed during an outage wait or a fence: keep only records
            # the sink still owns and has not written.
            items = [i for i in items if self.partitions.accepts(i.partition, i.offset)]
            letters = [d for d in letters if self.partitions.accepts(d.partition, d.offset)]
            if not items:
                return
            try:
                conn = self._db()
                if letters and not sent_letters:
                    assert self._dlq is not None
                    self._dlq.send(letters)
                    for d in letters:
                        metrics.DEAD_LETTERS.labels(SOURCE, d.reason).inc()
                    sent_letters = True
                self._write_once(conn, items)
            except store.Fenced as fenced:
                log.warning("%s; restarting those partitions from the stored offsets", fenced)
                self._fenced(list(fenced.stored))
                continue
            except (*_POISON, *_MALFORMED) as exc:
                self._isolate(items, exc)
                self._recovered()
                return
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._drop_connection()
                self._outage(f"database unavailable: {_short(exc)}")
                continue
            except (psycopg.Error, KafkaException) as exc:
                self._drop_connection()
                self._outage(f"{type(exc).__name__}: {_short(exc)}")
                continue
            self._recovered()
            return

    def _write_once(self, conn: psycopg.Connection[Any], items: list[Item]) -> store.BatchResult:
        next_offsets: dict[int, int] = {}
        for item in items:
            next_offsets[item.partition] = item.offset + 1
        expected: dict[int, int | None] = {}
        for p in next_offsets:
            state = self.partitions.get(p)
            assert state is not None
            expected[p] = state.stored
        events = [i.event for i in items if i.event is not None]
        result = store.write_batch(
            conn, self.config.group, self.config.topic, events, next_offsets, expected
        )
        for p, offset in next_offsets.items():
            self.partitions.advance(p, offset)
        self.events_projected += len(events)
        metrics.SINK_EVENTS.inc(len(events))
        return result

    def _isolate(self, items: list[Item], exc: Exception) -> None:
        """The database or the projection refused something in `items`: write it in halves
        until the offending record is alone, and dead-letter that record."""
        self._drop_connection()
        if len(items) == 1:
            item = items[0]
            log.error(
                "cannot project %s[%d]@%d: %s",
                self.config.topic,
                item.partition,
                item.offset,
                _short(exc),
            )
            letter = DeadLetter(
                topic=self.config.topic,
                partition=item.partition,
                offset=item.offset,
                key=item.key,
                value=item.value,
                headers=item.headers,
                reason="unprojectable",
                error_type=type(exc).__name__,
                detail=_short(exc),
            )
            # Skip it: only the offset moves (the letter is sent first by _write).
            self._write([_skipped(item)], [letter])
            return
        middle = len(items) // 2
        self._write(items[:middle], [])
        self._write(items[middle:], [])

    # -- lag -------------------------------------------------------------------------------

    def _export_lag(self, consumer: Consumer) -> None:
        topic = self.config.topic
        for p in self.partitions.ready():
            state = self.partitions.get(p)
            if state is None:
                continue
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=0.1, cached=True
                )
            except KafkaException:
                continue
            if high is None or high < 0:
                continue
            lag = max(0, high - state.position)
            metrics.SINK_LAG.labels(topic, str(p)).set(lag)
            metrics.CONSUMER_LAG.labels(self.config.group, topic, str(p)).set(lag)

    def _forget_lag(self, partition: int) -> None:
        for gauge, labels in (
            (metrics.SINK_LAG, (self.config.topic, str(partition))),
            (metrics.CONSUMER_LAG, (self.config.group, self.config.topic, str(partition))),
        ):
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)


def _skipped(item: Item) -> Item:
    return Item(item.partition, item.offset, None, item.key, item.value, item.headers)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
