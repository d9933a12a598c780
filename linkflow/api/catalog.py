"""Keeps the `workflow_definitions` table equal to the compacted `linkflow.definitions` topic.

The API writes a row itself when it registers a definition, but other producers (the
client SDK) publish straight to the topic. So each API instance reads the topic from the
beginning (one small partition, no consumer group offsets: re-reading is cheaper than
tracking) and upserts what it finds. `caught_up()` lets a request that finds no definition
make sure the table is not merely behind the topic before answering 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
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
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from linkflow import transport
from linkflow.api.json_values import value_problem
from linkflow.codec import DecodeError, decode_definition
from linkflow.metrics import DEFINITIONS_SKIPPED as SKIPPED
from linkflow.model.limits import MAX_ID_LENGTH, MAX_VERSION
from linkflow.model.workspaces import DEFAULT_WORKSPACE, workspace_problem

log = logging.getLogger(__name__)

_UPSERT = """
INSERT INTO workflow_definitions (workflow_id, version, definition, registered_at, workspace)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (workflow_id, version) DO UPDATE
   SET definition = EXCLUDED.definition, registered_at = EXCLUDED.registered_at,
       workspace = EXCLUDED.workspace
 WHERE (workflow_definitions.definition, workflow_definitions.workspace)
       IS DISTINCT FROM (EXCLUDED.definition, EXCLUDED.workspace)
"""
_DELETE = "DELETE FROM workflow_definitions WHERE workflow_id = %s AND version = %s"
_BATCH = 500
_POLL_SECONDS = 0.5
_RETRY_SECONDS = 0.2
_LEADER_ERRORS = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)


class DefinitionFollower:
    def __init__(
        self,
        bootstrap_servers: str,
        pool: AsyncConnectionPool[Any],
        topic: str = transport.DEFINITIONS,
    ) -> None:
        self._pool = pool
        # Never commits: the group id only satisfies librdkafka.
        config = transport.consumer_config(
            bootstrap_servers, f"linkflow-api-catalog-{uuid.uuid4().hex}"
        )
        self._consumer = Consumer(config)
        # End offsets come from a second handle: a query on the consuming one queues behind
        # the consume() call in flight and would cost up to a poll interval every time.
        self._offsets = Consumer(config)
        self._partition = TopicPartition(topic, 0)
        self._consume_thread = ThreadPoolExecutor(1, thread_name_prefix="linkflow-api-catalog")
        self._query_thread = ThreadPoolExecutor(1, thread_name_prefix="linkflow-api-watermark")
        self._next_offset = 0  # everything before it is in the table
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._consumer.assign([TopicPartition(self._partition.topic, 0, OFFSET_BEGINNING)])
        self._task = asyncio.create_task(self._run(), name="linkflow-api-catalog")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        loop = asyncio.get_running_loop()
        # Queued behind a consume() still in flight on the same thread, never beside it.
        await loop.run_in_executor(self._consume_thread, self._consumer.close)
        await loop.run_in_executor(self._query_thread, self._offsets.close)
        self._consume_thread.shutdown(wait=False)
        self._query_thread.shutdown(wait=False)

    async def caught_up(self, timeout: float) -> bool:
        """True once every record on the topic when called is in the table."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = max(0.1, deadline - loop.time())
            try:
                low, high = await loop.run_in_executor(
                    self._query_thread,
                    lambda r=remaining: self._offsets.get_watermark_offsets(
                        self._partition, r, False
                    ),
                )
                break
            except KafkaException as exc:
                # A just-created topic answers NOT_LEADER until its leader is elected, and
                # the handle keeps asking the old leader until its metadata is refreshed.
                error = exc.args[0]
                transient = error.retriable() or error.code() in _LEADER_ERRORS
                if not transient or loop.time() + _RETRY_SECONDS >= deadline:
                    log.warning("cannot read the definitions topic's end offset: %s", exc)
                    return False
                await asyncio.sleep(_RETRY_SECONDS)
                with contextlib.suppress(KafkaException):
                    await loop.run_in_executor(
                        self._query_thread,
                        lambda: self._offsets.list_topics(self._partition.topic, timeout=1),
                    )
        while max(self._next_offset, low) < high:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        return True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            messages = await loop.run_in_executor(self._consume_thread, self._next_batch)
            records = []
            for message in messages:
                if message.error() is not None:
                    # Broker away or topic not created yet: librdkafka keeps retrying.
                    log.debug("definitions topic: %s", message.error())
                    continue
                records.append(message)
            if records:
                await self._store(records)
                last = records[-1].offset()
                assert last is not None  # only error events lack an offset
                self._next_offset = last + 1
                self._progress.set()

    def _next_batch(self) -> list[Message]:
        return transport.fetched(self._consumer, _BATCH, _POLL_SECONDS)

    async def _store(self, messages: Sequence[Message]) -> None:
        upserts: list[tuple[Any, ...]] = []
        deletes: list[tuple[str, int]] = []
        for message in messages:
            key = (message.key() or b"").decode(errors="replace")
            value = message.value()
            if value is None:  # a tombstone: the definition was deleted from the topic
                workflow_id, _, version = key.rpartition(":")
                if workflow_id and version.isdigit():
                    deletes.append((workflow_id, int(version)))
                continue
            try:
                attrs = decode_definition(value)
            except DecodeError as exc:
                _skip(message, "undecodable", str(exc))
                continue
            row, why = _row(attrs)
            if row is None:
                _skip(message, "unstorable", why)
                continue
            upserts.append(row)
        delay = 0.5
        while True:
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    cur = conn.cursor()
                    if upserts:
                        await cur.executemany(_UPSERT, upserts)
                    if deletes:
                        await cur.executemany(_DELETE, deletes)
                return
            except psycopg.DataError as exc:
                # A value PostgreSQL refuses that _row did not foresee: store the others one
                # by one, so one bad record never blocks the ones after it.
                log.warning("storing definitions one by one: %s", exc)
                await self._store_each(upserts, deletes)
                return
            except Exception as exc:  # Postgres away: wait it out, the records stay unread
                log.warning("cannot store definitions (retrying in %.1f s): %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _store_each(
        self, upserts: Sequence[tuple[Any, ...]], deletes: Sequence[tuple[str, int]]
    ) -> None:
        for sql, rows in ((_UPSERT, upserts), (_DELETE, deletes)):
            for row in rows:
                try:
                    async with self._pool.connection() as conn, conn.transaction():
                        await conn.execute(sql, row)
                except psycopg.DataError as exc:
                    SKIPPED.labels("unstorable").inc()
                    log.error("skipping definition %s:%s: %s", row[0], row[1], exc)


def _row(attrs: dict[str, Any]) -> tuple[tuple[Any, ...] | None, str]:
    """The table row of a definition record, or None and why it cannot be one. The API and
    the client validate before publishing; a record from another producer may not be."""
    workflow_id, version, doc = attrs.get("id"), attrs.get("version"), attrs.get("definition")
    if not isinstance(workflow_id, str) or not 0 < len(workflow_id) <= MAX_ID_LENGTH:
        return None, f"workflow id {str(workflow_id)[:80]!r} is empty or too long"
    if isinstance(version, bool) or not isinstance(version, int):
        return None, f"version {version!r} is not an integer"
    if not 1 <= version <= MAX_VERSION:
        return None, f"version {version} is outside 1..{MAX_VERSION}"
    if not isinstance(doc, dict):
        return None, "the definition is not an object"
    problem = value_problem(doc)
    if problem is not None:
        return None, f"the definition cannot be stored: {problem}"
    try:
        registered_at = datetime.fromtimestamp(attrs["registered_at_ms"] / 1000, tz=UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None, f"registered_at_ms {attrs.get('registered_at_ms')!r} is not a time"
    workspace = attrs.get("workspace") or DEFAULT_WORKSPACE
    problem = workspace_problem(workspace)
    if problem is not None:
        return None, problem
    return (workflow_id, version, Jsonb(doc), registered_at, workspace), ""


def _skip(message: Message, reason: str, detail: str) -> None:
    # Not dead-lettered: every API instance re-reads this compacted topic from the start,
    # so a dead letter would be written again on each start; the record stays on the topic.
    SKIPPED.labels(reason).inc()
    log.error(
        "skipping definition record %r (%s[%s]@%s): %s",
        message.key(),
        message.topic(),
        message.partition(),
        message.offset(),
        detail,
    )
