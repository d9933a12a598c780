"""The Server-Sent Events live tail of an execution's history."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import psycopg
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from test_api_support import (
    Services,
    close_execution,
    connect,
    insert_events,
    insert_execution,
    prepare,
    running_api,
    unique,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

Client = TestClient[Any, Any]
DEADLINE = 15.0


@pytest.fixture(scope="module")
def services(database_url: str, kafka_bootstrap: str) -> Services:
    return prepare(database_url, kafka_bootstrap)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(services: Services) -> AsyncIterator[Client]:
    async with running_api(services, follow_definitions=False, sse_keepalive_seconds=0.2) as c:
        yield c


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def db(services: Services) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    conn = await connect(services)
    yield conn
    await conn.close()


class Stream:
    """Reads SSE messages off a response, each read bounded by a deadline."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments = 0

    async def next(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        async with asyncio.timeout(DEADLINE):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError("stream ended")
                line = raw.decode().rstrip("\n")
                if not line:
                    if fields:
                        return fields
                    continue
                if line.startswith(":"):
                    self.comments += 1
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value

    async def events(self, count: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            message = await self.next()
            assert "event" not in message, message
            event = json.loads(message["data"])
            assert message["id"] == str(event["event_id"])
            out.append(event)
        return out


def _events(first: int, last: int) -> list[tuple[int, str, dict[str, Any]]]:
    return [
        (i, "MarkerRecorded", {"marker_name": f"m{i}", "details": None})
        for i in range(first, last + 1)
    ]


async def test_live_tail_until_the_execution_closes(
    client: Client, db: psycopg.AsyncConnection[Any]
) -> None:
    execution_id = unique("exec-sse")
    await insert_execution(db, execution_id, "wf-sse", last_event_id=3)
    await insert_events(db, execution_id, _events(1, 3))

    response = await client.get(f"/v1/executions/{execution_id}/events")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    stream = Stream(response)
    assert (await stream.next()) == {"retry": "1000"}
    assert [e["event_id"] for e in await stream.events(3)] == [1, 2, 3]

    # Rows written after the client connected arrive on the open stream.
    await insert_events(db, execution_id, _events(4, 5))
    events = await stream.events(2)
    assert [(e["event_id"], e["attributes"]["marker_name"]) for e in events] == [
        (4, "m4"),
        (5, "m5"),
    ]
    # An idle stream carries keepalive comments (0.2 s in this app).
    await _one_comment(stream)

    await insert_events(db, execution_id, [(6, "WorkflowExecutionCompleted", {"output": 1})])
    await close_execution(db, execution_id, "completed", 6)
    [last] = await stream.events(1)
    assert last["event_type"] == "WorkflowExecutionCompleted"
    end = await stream.next()
    assert end["event"] == "end"
    assert json.loads(end["data"]) == {
        "execution_id": execution_id,
        "status": "completed",
        "last_event_id": 6,
    }
    async with asyncio.timeout(DEADLINE):
        assert await response.content.read() == b""  # the server closed the stream


async def _one_comment(stream: Stream) -> None:
    async with asyncio.timeout(DEADLINE):
        raw = await stream.response.content.readline()
    assert raw.startswith(b":"), raw
    assert await stream.response.content.readline() == b"\n"
    stream.comments += 1


async def test_resume_with_last_event_id(client: Client, db: psycopg.AsyncConnection[Any]) -> None:
    execution_id = unique("exec-resume")
    await insert_execution(db, execution_id, "wf-sse", last_event_id=5)
    await insert_events(db, execution_id, _events(1, 5))

    first = await client.get(f"/v1/executions/{execution_id}/events")
    stream = Stream(first)
    await stream.next()  # retry
    seen = await stream.events(2)
    first.close()  # the connection drops after event 2

    resumed = await client.get(
        f"/v1/executions/{execution_id}/events",
        headers={"Last-Event-ID": str(seen[-1]["event_id"])},
    )
    stream = Stream(resumed)
    await stream.next()
    assert [e["event_id"] for e in await stream.events(3)] == [3, 4, 5]
    resumed.close()

    # ?after= serves clients that cannot set headers; the header wins when both are given.
    by_query = await client.get(f"/v1/executions/{execution_id}/events", params={"after": 4})
    stream = Stream(by_query)
    await stream.next()
    assert [e["event_id"] for e in await stream.events(1)] == [5]
    by_query.close()
    both = await client.get(
        f"/v1/executions/{execution_id}/events",
        params={"after": 1},
        headers={"Last-Event-ID": "3"},
    )
    stream = Stream(both)
    await stream.next()
    assert [e["event_id"] for e in await stream.events(1)] == [4]
    both.close()


async def test_a_closed_execution_streams_its_history_and_ends(
    client: Client, db: psycopg.AsyncConnection[Any]
) -> None:
    execution_id = unique("exec-done")
    await insert_execution(db, execution_id, "wf-sse", status="failed", last_event_id=2)
    await insert_events(db, execution_id, _events(1, 2))
    response = await client.get(f"/v1/executions/{execution_id}/events")
    stream = Stream(response)
    await stream.next()
    assert [e["event_id"] for e in await stream.events(2)] == [1, 2]
    end = await stream.next()
    assert end["event"] == "end"
    assert json.loads(end["data"])["status"] == "failed"

    # Resuming after the end: nothing more to send, the end message again.
    response = await client.get(
        f"/v1/executions/{execution_id}/events", headers={"Last-Event-ID": "2"}
    )
    stream = Stream(response)
    await stream.next()
    assert (await stream.next())["event"] == "end"


async def test_bad_resume_points_are_400(client: Client, db: psycopg.AsyncConnection[Any]) -> None:
    execution_id = unique("exec-bad-resume")
    await insert_execution(db, execution_id, "wf-sse")
    path = f"/v1/executions/{execution_id}/events"
    response = await client.get(path, headers={"Last-Event-ID": "abc"})
    assert response.status == 400
    assert (await response.json())["error"]["parameter"] == "Last-Event-ID"
    response = await client.get(path, params={"after": "-3"})
    assert response.status == 400
    assert (await response.json())["error"]["parameter"] == "after"
