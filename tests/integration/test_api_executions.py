"""Reading executions: list with filters and keyset pages, get with node states, history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from test_api_support import (
    BASE_TIME,
    Services,
    connect,
    insert_events,
    insert_execution,
    insert_node,
    prepare,
    running_api,
    unique,
)

from linkflow.api.pagination import Cursor, encode_cursor

pytestmark = pytest.mark.asyncio(loop_scope="module")

Client = TestClient[Any, Any]


@pytest.fixture(scope="module")
def services(database_url: str, kafka_bootstrap: str) -> Services:
    return prepare(database_url, kafka_bootstrap)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(services: Services) -> AsyncIterator[Client]:
    async with running_api(services, follow_definitions=False) as c:
        yield c


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def db(services: Services) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    conn = await connect(services)
    yield conn
    await conn.close()


async def _list(client: Client, **params: Any) -> tuple[list[str], str | None]:
    # A list value becomes a repeated parameter (?workflow_id=a&workflow_id=b).
    pairs = [
        (name, str(v))
        for name, value in params.items()
        for v in (value if isinstance(value, list) else [value])
    ]
    response = await client.get("/v1/executions", params=pairs)
    assert response.status == 200, await response.text()
    body = await response.json()
    return [e["execution_id"] for e in body["executions"]], body["next_cursor"]


async def _all_pages(client: Client, **params: Any) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    cursor = None
    while True:
        page, cursor = await _list(client, **params, **({"cursor": cursor} if cursor else {}))
        ids.extend(page)
        pages += 1
        if cursor is None:
            return ids, pages


async def test_keyset_pages_with_ties_in_started_at(
    client: Client, db: psycopg.AsyncConnection[Any]
) -> None:
    workflow = unique("wf-ties")
    # Seven executions start in the same microsecond, three at other times: a cursor on
    # started_at alone would skip or repeat rows at the page boundaries.
    same = BASE_TIME + timedelta(minutes=1)
    expected: list[tuple[Any, str]] = []
    for i in range(7):
        execution_id = f"{workflow}-tie-{i:02d}"
        await insert_execution(db, execution_id, workflow, started_at=same)
        expected.append((same, execution_id))
    for i, minutes in enumerate((0, 2, 3)):
        execution_id = f"{workflow}-other-{i}"
        at = BASE_TIME + timedelta(minutes=minutes)
        await insert_execution(db, execution_id, workflow, started_at=at)
        expected.append((at, execution_id))
    newest_first = [e for _, e in sorted(expected, reverse=True)]

    for limit in (1, 3, 4, 10):
        ids, pages = await _all_pages(client, workflow_id=workflow, limit=limit)
        assert ids == newest_first, f"limit={limit}"
        assert pages == max(1, -(-10 // limit))
    ids, _ = await _all_pages(client, workflow_id=workflow, limit=3, order="asc")
    assert ids == list(reversed(newest_first))


async def test_a_page_is_stable_while_new_executions_start(
    client: Client, db: psycopg.AsyncConnection[Any]
) -> None:
    workflow = unique("wf-stable")
    for i in range(4):
        await insert_execution(
            db, f"{workflow}-{i}", workflow, started_at=BASE_TIME + timedelta(seconds=i)
        )
    first, cursor = await _list(client, workflow_id=workflow, limit=2)
    assert first == [f"{workflow}-3", f"{workflow}-2"]
    await insert_execution(
        db, f"{workflow}-new", workflow, started_at=BASE_TIME + timedelta(hours=1)
    )
    second, cursor = await _list(client, workflow_id=workflow, limit=2, cursor=cursor)
    assert second == [f"{workflow}-1", f"{workflow}-0"]
    assert cursor is None


async def test_filters(client: Client, db: psycopg.AsyncConnection[Any]) -> None:
    workflow, other = unique("wf-filter"), unique("wf-filter-other")
    rows = [
        ("a", workflow, "running", 0, {"customer": "c1", "region": "eu"}),
        ("b", workflow, "completed", 10, {"customer": "c1", "region": "us"}),
        ("c", workflow, "failed", 20, {"customer": "c2"}),
        ("d", other, "completed", 30, {"customer": "c1", "region": "eu"}),
    ]
    for suffix, wf, status, seconds, attrs in rows:
        await insert_execution(
            db,
            f"{workflow}-{suffix}",
            wf,
            status=status,
            started_at=BASE_TIME + timedelta(seconds=seconds),
            search_attributes=attrs,
        )
    ids = {f"{workflow}-{s}" for s, *_ in rows}

    async def select(**params: Any) -> list[str]:
        found, _ = await _all_pages(client, limit=500, **params)
        return [i.rsplit("-", 1)[1] for i in found if i in ids]

    both = [workflow, other]
    assert await select(workflow_id=workflow) == ["c", "b", "a"]
    assert await select(workflow_id=both, status="completed") == ["d", "b"]
    assert await select(workflow_id=both, status="completed,failed") == ["d", "c", "b"]
    assert await select(workflow_id=both, **{"sa.customer": "c1"}) == ["d", "b", "a"]
    assert await select(workflow_id=both, **{"sa.customer": "c1", "sa.region": "eu"}) == [
        "d",
        "a",
    ]
    after = (BASE_TIME + timedelta(seconds=10)).isoformat()
    before = (BASE_TIME + timedelta(seconds=30)).isoformat()
    assert await select(workflow_id=both, started_after=after, started_before=before) == [
        "c",
        "b",
    ]
    epoch_ms = int((BASE_TIME + timedelta(seconds=20)).timestamp() * 1000)
    assert await select(workflow_id=both, started_after=str(epoch_ms)) == ["d", "c"]
    assert await select(workflow_id=both, order="asc") == ["a", "b", "c", "d"]
    # An empty window (after >= before) selects nothing rather than failing.
    assert await select(workflow_id=both, started_after=before, started_before=after) == []


async def test_children_of_a_parent(client: Client, db: psycopg.AsyncConnection[Any]) -> None:
    workflow = unique("wf-parent")
    await insert_execution(db, f"{workflow}-p", workflow)
    await insert_execution(db, f"{workflow}-c1", workflow, parent_execution_id=f"{workflow}-p")
    ids, _ = await _list(client, parent_execution_id=f"{workflow}-p")
    assert ids == [f"{workflow}-c1"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("status=sleeping", "status"),
        ("status=", "status"),
        ("order=sideways", "order"),
        ("started_after=yesterday", "started_after"),
        ("started_before=2025-13-01", "started_before"),
        ("started_after=99999999999999", "started_after"),
        ("workflow_id=", "workflow_id"),
        ("parent_execution_id=", "parent_execution_id"),
        ("workflow_id=a%00b", "workflow_id"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=eyJ2Ijo5fQ", "cursor"),
        ("stauts=running", "stauts"),
        ("sa.=x", "sa."),
        ("limit=1&limit=2", "limit"),
    ],
)
async def test_bad_list_parameters_are_400_naming_the_parameter(
    client: Client, query: str, parameter: str
) -> None:
    response = await client.get(f"/v1/executions?{query}")
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "invalid_parameter"
    assert error["parameter"] == parameter
    assert parameter in error["message"]


async def test_a_cursor_only_continues_the_order_it_was_made_for(client: Client) -> None:
    cursor = encode_cursor(Cursor(BASE_TIME, "x", "desc"))
    response = await client.get("/v1/executions", params={"cursor": cursor, "order": "asc"})
    assert response.status == 400
    assert "order=desc" in (await response.json())["error"]["message"]


async def test_get_execution_with_node_states(
    client: Client, db: psycopg.AsyncConnection[Any]
) -> None:
    execution_id = unique("exec-get")
    error = {"type": "HttpError", "message": "503", "retryable": True, "node_id": "charge"}
    await insert_execution(
        db,
        execution_id,
        "wf-get",
        status="failed",
        last_event_id=9,
        input={"order": 7},
        error=error,
        search_attributes={"customer": "c9"},
    )
    await insert_node(db, execution_id, "fetch", "completed", offset_ms=1, output={"ok": True})
    await insert_node(db, execution_id, "charge", "failed", offset_ms=2, attempt=3, error=error)

    response = await client.get(f"/v1/executions/{execution_id}")
    assert response.status == 200
    body = await response.json()
    assert body["execution_id"] == execution_id
    assert body["status"] == "failed"
    assert body["input"] == {"order": 7}
    assert body["error"] == error
    assert body["search_attributes"] == {"customer": "c9"}
    assert body["started_at"] == "2025-03-01T12:00:00.000000Z"
    assert body["closed_at"] == "2025-03-01T12:00:05.000000Z"
    assert [(n["node_id"], n["status"], n["attempt"]) for n in body["nodes"]] == [
        ("fetch", "completed", 1),
        ("charge", "failed", 3),
    ]
    assert body["nodes"][0]["output"] == {"ok": True}
    assert body["nodes"][1]["error"] == error


async def test_unknown_execution_is_404(client: Client) -> None:
    for path in ("", "/history", "/events"):
        for execution_id in (unique("missing"), "nul%00in-id"):
            response = await client.get(f"/v1/executions/{execution_id}{path}")
            assert response.status == 404, path
            error = (await response.json())["error"]
            assert error["code"] == "not_found"


async def test_history_pages_by_event_id(client: Client, db: psycopg.AsyncConnection[Any]) -> None:
    execution_id = unique("exec-history")
    await insert_execution(db, execution_id, "wf-history", last_event_id=5)
    kinds = ["WorkflowExecutionStarted", "ActivityTaskScheduled", "ActivityTaskStarted"]
    kinds += ["ActivityTaskCompleted", "NodeCompleted"]
    await insert_events(
        db, execution_id, [(i + 1, kind, {"n": i + 1}) for i, kind in enumerate(kinds)]
    )
    response = await client.get(f"/v1/executions/{execution_id}/history", params={"limit": 2})
    page = await response.json()
    assert [e["event_id"] for e in page["events"]] == [1, 2]
    assert page["events"][0] == {
        "event_id": 1,
        "event_type": "WorkflowExecutionStarted",
        "event_time": "2025-03-01T12:00:00.001000Z",
        "attributes": {"n": 1},
    }
    assert page["next_after"] == 2
    seen = [1, 2]
    after = page["next_after"]
    while after is not None:
        response = await client.get(
            f"/v1/executions/{execution_id}/history", params={"after": after, "limit": 2}
        )
        page = await response.json()
        seen += [e["event_id"] for e in page["events"]]
        after = page["next_after"]
    assert seen == [1, 2, 3, 4, 5]
    whole = await (await client.get(f"/v1/executions/{execution_id}/history")).json()
    assert [e["event_type"] for e in whole["events"]] == kinds
    assert whole["next_after"] is None

    for bad in ("after=-1", "limit=0", "limit=1001", "after=x", "page=2"):
        response = await client.get(f"/v1/executions/{execution_id}/history?{bad}")
        assert response.status == 400, bad
        assert (await response.json())["error"]["code"] == "invalid_parameter"
