"""Workflow definitions: register (validated, published, recorded), list, get."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from confluent_kafka import Producer
from test_api_support import Services, Tap, prepare, running_api, unique, workflow_doc

from linkflow import transport
from linkflow.api.definitions import definition_key, encode_definition_record
from linkflow.codec import decode_definition

pytestmark = pytest.mark.asyncio(loop_scope="module")

Client = TestClient[Any, Any]


@pytest.fixture(scope="module")
def services(database_url: str, kafka_bootstrap: str) -> Services:
    return prepare(database_url, kafka_bootstrap)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(services: Services) -> AsyncIterator[Client]:
    async with running_api(services) as c:
        yield c


@pytest_asyncio.fixture(loop_scope="module")
async def definitions(services: Services) -> AsyncIterator[Tap]:
    tap = await asyncio.to_thread(Tap, services.kafka_bootstrap, transport.DEFINITIONS)
    yield tap
    await asyncio.to_thread(tap.close)


async def test_register_publishes_and_records_the_definition(
    client: Client, definitions: Tap
) -> None:
    workflow_id = unique("wf-reg")
    doc = workflow_doc(workflow_id, name="Orders", description="takes orders")
    response = await client.post("/v1/workflows", json=doc)
    assert response.status == 201, await response.text()
    answer = await response.json()
    assert answer["workflow_id"] == workflow_id
    assert answer["version"] == 1
    assert answer["created"] is True
    assert response.headers["Location"] == f"/v1/workflows/{workflow_id}"

    [message] = await asyncio.to_thread(definitions.wait_for, definition_key(workflow_id, 1))
    record = decode_definition(message.value())
    assert record["definition_type"] == "WorkflowDefinition"
    assert (record["id"], record["version"], record["definition"]) == (workflow_id, 1, doc)

    got = await (await client.get(f"/v1/workflows/{workflow_id}")).json()
    assert got["latest_version"] == 1
    assert got["versions"] == [
        {"version": 1, "registered_at": answer["registered_at"], "definition": doc}
    ]


async def test_registering_the_same_version_again(client: Client) -> None:
    workflow_id = unique("wf-again")
    first = await client.post("/v1/workflows", json=workflow_doc(workflow_id))
    assert first.status == 201
    same = await client.post("/v1/workflows", json=workflow_doc(workflow_id))
    assert same.status == 200
    assert (await same.json())["created"] is False
    assert (await same.json())["registered_at"] == (await first.json())["registered_at"]

    changed = workflow_doc(workflow_id)
    changed["nodes"][1]["config"]["values"]["v"] = 99
    response = await client.post("/v1/workflows", json=changed)
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "version_conflict"

    changed["version"] = 2
    assert (await client.post("/v1/workflows", json=changed)).status == 201
    got = await (await client.get(f"/v1/workflows/{workflow_id}")).json()
    assert got["latest_version"] == 2
    assert [v["version"] for v in got["versions"]] == [2, 1]


async def test_invalid_definition_is_422_listing_every_problem(client: Client) -> None:
    doc = {
        "id": unique("wf-bad"),
        "version": 1,
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "call", "type": "http", "config": {}},
            {"id": "odd", "type": "teleport"},
        ],
        "edges": [
            {"source": "start", "target": "call"},
            {"source": "call", "target": "nowhere"},
        ],
    }
    response = await client.post("/v1/workflows", json=doc)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "invalid_definition"
    problems = error["problems"]
    located = {(p["node_id"], p["edge"], p["field"]) for p in problems}
    assert ("call", None, "config.url") in located
    assert ("odd", None, "type") in located
    assert (None, "edges[1] (call -> nowhere)", "target") in located
    assert all(p["message"] for p in problems)
    assert str(len(problems)) in error["message"]
    # Nothing was registered.
    assert (await client.get(f"/v1/workflows/{doc['id']}")).status == 404


async def test_a_template_naming_a_missing_node_is_422_and_a_missing_child_a_warning(
    client: Client,
) -> None:
    """Issue 17, case 7: both used to be accepted and fail only at run time."""
    parent_id, child_id = unique("wf-parent"), unique("wf-child")
    doc = {
        "id": parent_id,
        "version": 1,
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "shape", "type": "set", "config": {"values": {"v": "{{ nodes.nope.value }}"}}},
        ],
        "edges": [{"source": "start", "target": "shape"}],
    }
    response = await client.post("/v1/workflows", json=doc)
    assert response.status == 422
    [problem] = (await response.json())["error"]["problems"]
    assert (problem["node_id"], problem["field"]) == ("shape", "config.values.v")
    assert "'nope'" in problem["message"]

    doc["nodes"][1] = {"id": "child", "type": "subworkflow", "config": {"workflow_id": child_id}}
    doc["edges"] = [{"source": "start", "target": "child"}]
    response = await client.post("/v1/workflows", json=doc)
    assert response.status == 201
    [warning] = (await response.json())["warnings"]
    assert (warning["node_id"], warning["field"]) == ("child", "config.workflow_id")
    assert child_id in warning["message"]

    assert (await client.post("/v1/workflows", json=workflow_doc(child_id))).status == 201
    doc["version"] = 2
    response = await client.post("/v1/workflows", json=doc)
    assert response.status == 201
    assert (await response.json())["warnings"] == []


async def test_the_documented_config_keys_of_code_echo_and_http_are_accepted(
    client: Client,
) -> None:
    """Issue 17, case 2: the model held a second, narrower declaration that refused them."""
    doc = {
        "id": unique("wf-keys"),
        "version": 1,
        "nodes": [
            {"id": "start", "type": "trigger"},
            {
                "id": "run",
                "type": "code",
                "config": {
                    "source": "result = input",
                    "input": 1,
                    "timeout": "5s",
                    "memory_mb": 64,
                },
            },
            {"id": "show", "type": "echo", "config": {"anything": "{{ nodes.run }}"}},
            {"id": "call", "type": "http", "config": {"url": "http://x", "credentials": "crm"}},
        ],
        "edges": [
            {"source": "start", "target": "run"},
            {"source": "run", "target": "show"},
            {"source": "show", "target": "call"},
        ],
    }
    response = await client.post("/v1/workflows", json=doc)
    assert response.status == 201, await response.text()


async def test_register_refuses_what_is_not_a_json_object(client: Client) -> None:
    for data in (b"{not json", b"", b"null"):
        response = await client.post(
            "/v1/workflows", data=data, headers={"Content-Type": "application/json"}
        )
        assert response.status in (400, 422), data
    response = await client.post("/v1/workflows", data=b"{not json")
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_json"
    response = await client.post("/v1/workflows", json=[1, 2])
    assert response.status == 422  # valid JSON, invalid definition
    assert (await response.json())["error"]["problems"][0]["message"]


async def test_a_version_beyond_the_stored_range_is_refused_before_anything_is_published(
    client: Client,
) -> None:
    workflow_id = unique("wf-version")
    for version in (2**31, 1099511627776):
        response = await client.post("/v1/workflows", json=workflow_doc(workflow_id, version))
        assert response.status == 422, version
        problems = (await response.json())["error"]["problems"]
        assert [p["field"] for p in problems] == ["version"], problems
        assert "2147483647" in problems[0]["message"]
    # Nothing was registered: the same id registers fine with a version in range.
    response = await client.post("/v1/workflows", json=workflow_doc(workflow_id, 2**31 - 1))
    assert response.status == 201, await response.text()


async def test_list_pages_through_workflows_by_id(client: Client) -> None:
    prefix = unique("wf-list")
    ids = [f"{prefix}-{c}" for c in "abc"]
    for workflow_id in reversed(ids):
        assert (await client.post("/v1/workflows", json=workflow_doc(workflow_id))).status == 201
    second = workflow_doc(ids[1], version=2, name="B two")
    assert (await client.post("/v1/workflows", json=second)).status == 201

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/v1/workflows", params=params)
        assert response.status == 200
        page = await response.json()
        assert len(page["workflows"]) <= 2
        seen += page["workflows"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    all_ids = [w["workflow_id"] for w in seen]
    assert len(all_ids) == len(set(all_ids))
    assert [w for w in all_ids if w.startswith(prefix)] == ids
    mine = {w["workflow_id"]: w for w in seen if w["workflow_id"].startswith(prefix)}
    assert mine[ids[1]]["latest_version"] == 2
    assert mine[ids[1]]["version_count"] == 2
    assert mine[ids[1]]["name"] == "B two"
    assert mine[ids[0]]["latest_version"] == 1

    for bad in ("limit=0", "cursor=%%%", "sort=id"):
        response = await client.get(f"/v1/workflows?{bad}")
        assert response.status == 400, bad


async def test_unknown_workflow_is_404(client: Client) -> None:
    response = await client.get(f"/v1/workflows/{unique('wf-none')}")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_definitions_published_by_other_producers_appear(
    client: Client, services: Services
) -> None:
    # The client SDK publishes straight to linkflow.definitions, bypassing the API.
    workflow_id = unique("wf-sdk")
    doc = workflow_doc(workflow_id)
    producer = Producer(transport.producer_config(services.kafka_bootstrap))
    producer.produce(
        transport.DEFINITIONS,
        key=definition_key(workflow_id, 1),
        value=encode_definition_record(doc, int(time.time() * 1000)),
    )
    assert await asyncio.to_thread(producer.flush, 30) == 0

    # No waiting in the test: the API catches up with the topic before it answers 404.
    response = await client.get(f"/v1/workflows/{workflow_id}")
    assert response.status == 200, await response.text()
    assert (await response.json())["versions"][0]["definition"] == doc
    start = await client.post("/v1/executions", json={"workflow_id": workflow_id})
    assert start.status == 202


async def test_a_definition_record_the_catalog_cannot_store_is_skipped(
    client: Client, services: Services
) -> None:
    """Issue 16, case 2: a record with version 2^40 (from a producer that did not validate)
    was retried forever, and every later registration answered 503."""
    bad_id, good_id = unique("wf-bad-version"), unique("wf-after-bad")
    producer = Producer(transport.producer_config(services.kafka_bootstrap))
    now_ms = int(time.time() * 1000)
    for workflow_id, version in ((bad_id, 2**40), (good_id, 1)):
        producer.produce(
            transport.DEFINITIONS,
            key=definition_key(workflow_id, version),
            value=encode_definition_record(workflow_doc(workflow_id, version), now_ms),
        )
    assert await asyncio.to_thread(producer.flush, 30) == 0

    response = await client.get(f"/v1/workflows/{good_id}")
    assert response.status == 200, await response.text()
    assert (await client.get(f"/v1/workflows/{bad_id}")).status == 404
    registered = await client.post("/v1/workflows", json=workflow_doc(unique("wf-next")))
    assert registered.status == 201, await registered.text()


async def test_a_task_queue_without_a_topic_is_422_naming_the_node(client: Client) -> None:
    queue = unique("nowhere")
    doc = {
        "id": unique("wf-queue"),
        "version": 1,
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "fine", "type": "noop"},
            {"id": "lost", "type": "noop", "task_queue": queue},
        ],
        "edges": [
            {"source": "start", "target": "fine"},
            {"source": "fine", "target": "lost"},
        ],
    }
    response = await client.post("/v1/workflows", json=doc)
    assert response.status == 422
    problems = (await response.json())["error"]["problems"]
    assert [(p["node_id"], p["field"]) for p in problems] == [("lost", "task_queue")]
    assert f"linkflow.tasks.{queue}" in problems[0]["message"]
    assert (await client.get(f"/v1/workflows/{doc['id']}")).status == 404
