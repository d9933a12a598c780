"""Helpers for the query-service integration tests (imported by the test_api_* modules).

The API runs in-process on a real loopback server (aiohttp's TestServer) against the real
Postgres and Kafka of the session stack. Visibility rows are seeded by inserting them the
way the visibility sink writes them, with ids unique to each test.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import psycopg
from aiohttp.test_utils import TestClient, TestServer
from confluent_kafka import Consumer, Message, TopicPartition
from psycopg.types.json import Jsonb

from connect.migrate import migrate
from linkflow import transport
from linkflow.api import ApiConfig, create_app
from linkflow.topics import apply_topics

BASE_TIME = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Services:
    database_url: str
    kafka_bootstrap: str


@cache
def prepare(database_url: str, kafka_bootstrap: str) -> Services:
    """Schema migrated and topics created, once per test process."""
    migrate(database_url)
    apply_topics(kafka_bootstrap)
    return Services(database_url, kafka_bootstrap)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def running_api(services: Services, **overrides: Any) -> AsyncIterator[TestClient[Any, Any]]:
    config = ApiConfig(
        database_url=overrides.pop("database_url", services.database_url),
        kafka_bootstrap=overrides.pop("kafka_bootstrap", services.kafka_bootstrap),
        **overrides,
    )
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(config), host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def workflow_doc(workflow_id: str, version: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": workflow_id,
        "version": version,
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "shape", "type": "set", "config": {"values": {"v": version}}},
        ],
        "edges": [{"source": "start", "target": "shape"}],
        **extra,
    }


# -- seeding the visibility tables --------------------------------------------------------


async def connect(services: Services) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(services.database_url, autocommit=True)


async def insert_execution(
    conn: psycopg.AsyncConnection[Any],
    execution_id: str,
    workflow_id: str,
    *,
    status: str = "running",
    started_at: datetime = BASE_TIME,
    version: int = 1,
    last_event_id: int = 1,
    search_attributes: dict[str, str] | None = None,
    parent_execution_id: str | None = None,
    input: Any = None,
    output: Any = None,
    error: dict[str, Any] | None = None,
) -> None:
    closed_at = started_at + timedelta(seconds=5) if status != "running" else None
    await conn.execute(
        """
        INSERT INTO executions (execution_id, workflow_id, workflow_version, status, input,
            output, error, started_at, closed_at, updated_at, last_event_id, request_id,
            parent_execution_id, search_attributes)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            execution_id,
            workflow_id,
            version,
            status,
            Jsonb(input),
            Jsonb(output),
            Jsonb(error) if error is not None else None,
            started_at,
            closed_at,
            closed_at or started_at,
            last_event_id,
            f"req-{execution_id}",
            parent_execution_id,
            Jsonb(search_attributes or {}),
        ),
    )


async def close_execution(
    conn: psycopg.AsyncConnection[Any],
    execution_id: str,
    status: str,
    last_event_id: int,
    output: Any = None,
) -> None:
    await conn.execute(
        "UPDATE executions SET status = %s, output = %s, closed_at = updated_at,"
        " last_event_id = %s WHERE execution_id = %s",
        (status, Jsonb(output), last_event_id, execution_id),
    )


async def insert_events(
    conn: psycopg.AsyncConnection[Any],
    execution_id: str,
    events: Iterable[tuple[int, str, dict[str, Any]]],
) -> None:
    rows = [
        (execution_id, event_id, kind, BASE_TIME + timedelta(milliseconds=event_id), Jsonb(a))
        for event_id, kind, a in events
    ]
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO history_events (execution_id, event_id, event_type, event_time,"
            " attributes) VALUES (%s, %s, %s, %s, %s)",
            rows,
        )


async def insert_node(
    conn: psycopg.AsyncConnection[Any],
    execution_id: str,
    node_id: str,
    status: str,
    *,
    offset_ms: int,
    attempt: int = 1,
    output: Any = None,
    error: dict[str, Any] | None = None,
) -> None:
    at = BASE_TIME + timedelta(milliseconds=offset_ms)
    await conn.execute(
        """
        INSERT INTO node_executions (execution_id, node_id, scope, status, attempt,
            activity_id, node_type, task_queue, output, error, scheduled_at, started_at,
            finished_at, updated_at, last_event_id)
        VALUES (%s, %s, '', %s, %s, %s, 'http', 'default', %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            execution_id,
            node_id,
            status,
            attempt,
            f"{execution_id}/{node_id}",
            Jsonb(output),
            Jsonb(error) if error is not None else None,
            at,
            at,
            at if status in ("completed", "failed") else None,
            at,
            offset_ms,
        ),
    )


# -- reading Kafka back -------------------------------------------------------------------


class Tap:
    """Reads a topic from its end at creation time (blocking: call through to_thread)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer(
            transport.consumer_config(bootstrap, f"test-api-tap-{uuid.uuid4().hex}")
        )
        meta = self.consumer.list_topics(topic, timeout=10)
        self.partitions = len(meta.topics[topic].partitions)
        assignment = []
        for partition in range(self.partitions):
            _low, high = self.consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10
            )
            assignment.append(TopicPartition(topic, partition, high))
        self.consumer.assign(assignment)

    def wait_for(self, key: bytes, count: int = 1, timeout: float = 30.0) -> list[Message]:
        found: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(found)}/{count} messages with key {key!r} on {self.topic}"
                )
            message = self.consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            if message.key() == key:
                found.append(message)
        return found

    def close(self) -> None:
        self.consumer.close()


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
