"""Writes: start, signal, cancel and terminate publish the right encoded command, keyed and
partitioned like every LinkFlow producer, and refuse what they cannot do."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from test_api_support import (
    Services,
    Tap,
    close_execution,
    connect,
    insert_execution,
    insert_node,
    prepare,
    running_api,
    unique,
    workflow_doc,
)

from linkflow import transport
from linkflow.client import execution_id_for, partition_for
from linkflow.codec import decode_command

pytestmark = pytest.mark.asyncio(loop_scope="module")

Client = TestClient[Any, Any]


@pytest.fixture(scope="module")
def services(database_url: str, kafka_bootstrap: str) -> Services:
    return prepare(database_url, kafka_bootstrap)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(services: Services) -> AsyncIterator[Client]:
    async with running_api(services) as c:
        yield c


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def db(services: Services) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    conn = await connect(services)
    yield conn
    await conn.close()


@pytest_asyncio.fixture(loop_scope="module")
async def commands(services: Services) -> AsyncIterator[Tap]:
    tap = await asyncio.to_thread(Tap, services.kafka_bootstrap, transport.COMMANDS)
    yield tap
    await asyncio.to_thread(tap.close)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def workflow(client: Client) -> str:
    workflow_id = unique("wf-cmd")
    response = await client.post("/v1/workflows", json=workflow_doc(workflow_id))
    assert response.status == 201, await response.text()
    return workflow_id


async def _received(tap: Tap, execution_id: str, count: int = 1) -> list[dict[str, Any]]:
    messages = await asyncio.to_thread(tap.wait_for, execution_id.encode(), count)
    for message in messages:
        # The murmur2 partition: the same one the history processor owns for this id.
        assert message.partition() == partition_for(execution_id, tap.partitions)
    return [decode_command(m.value()) for m in messages]


async def test_start_publishes_a_start_command(
    client: Client, commands: Tap, workflow: str
) -> None:
    body = {
        "workflow_id": workflow,
        "workflow_version": 1,
        "input": {"order": 42, "items": ["a", "b"]},
        "search_attributes": {"customer": "c1"},
    }
    response = await client.post("/v1/executions", json=body)
    assert response.status == 202, await response.text()
    answer = await response.json()
    execution_id = answer["execution_id"]
    uuid.UUID(execution_id)
    assert response.headers["Location"] == f"/v1/executions/{execution_id}"
    assert answer["execution"] is None
    [command] = await _received(commands, execution_id)
    assert command["input_type"] == "StartWorkflow"
    assert command["execution_id"] == execution_id
    assert command["request_id"] == answer["request_id"]
    assert command["workflow_id"] == workflow
    assert command["workflow_version"] == 1
    assert command["input"] == {"order": 42, "items": ["a", "b"]}
    assert command["idempotency_key"] is None
    assert command["search_attributes"] == {"customer": "c1"}
    assert command["parent_execution_id"] is None


async def test_start_with_an_idempotency_key_targets_one_execution(
    client: Client, commands: Tap, workflow: str
) -> None:
    key = unique("order")
    first = await (
        await client.post("/v1/executions", json={"workflow_id": workflow, "idempotency_key": key})
    ).json()
    second_response = await client.post(
        "/v1/executions", json={"workflow_id": workflow, "idempotency_key": key}
    )
    assert second_response.status == 202
    second = await second_response.json()
    # The same id the client SDK derives, so API and SDK starts dedupe together.
    assert first["execution_id"] == second["execution_id"] == execution_id_for(workflow, key)
    received = await _received(commands, first["execution_id"], count=2)
    assert [c["request_id"] for c in received] == [f"start:{key}", f"start:{key}"]
    assert all(c["idempotency_key"] == key for c in received)


async def test_start_refuses_bad_requests(client: Client, workflow: str) -> None:
    cases: list[tuple[dict[str, Any], str | bytes, str]] = [
        ({}, b"{nope", "bad_json"),
        ({}, b"", "bad_json"),
        ({}, b"[1, 2]", "bad_json"),
        ({}, b'{"input": 1}', "invalid_body"),
        ({}, b'{"workflow_id": ""}', "invalid_body"),
        ({}, b'{"workflow_id": 7}', "invalid_body"),
        ({}, b'{"workflow_id": "w", "colour": "red"}', "invalid_body"),
        ({}, b'{"workflow_id": "w", "workflow_version": 0}', "invalid_body"),
        ({}, b'{"workflow_id": "w", "workflow_version": 2147483648}', "invalid_body"),
        ({}, b'{"workflow_id": "w", "search_attributes": {"a": 1}}', "invalid_body"),
        # PostgreSQL cannot store U+0000: refused here, not left to stall the sink later.
        ({}, f'{{"workflow_id": "{workflow}", "input": {{"k": "a\\u0000b"}}}}', "invalid_body"),
        # Not JSON numbers, UTF-8 cannot hold a lone surrogate, and nesting is bounded.
        ({}, f'{{"workflow_id": "{workflow}", "input": NaN}}', "bad_json"),
        ({}, f'{{"workflow_id": "{workflow}", "input": -Infinity}}', "bad_json"),
        ({}, f'{{"workflow_id": "{workflow}", "input": "\\ud800"}}', "invalid_body"),
        ({}, f'{{"workflow_id": "{workflow}", "input": {"[" * 500 + "]" * 500}}}', "invalid_body"),
        ({"wait": "soon"}, f'{{"workflow_id": "{workflow}"}}', "invalid_parameter"),
        ({"wait": "61"}, f'{{"workflow_id": "{workflow}"}}', "invalid_parameter"),
    ]
    for params, data, code in cases:
        response = await client.post(
            "/v1/executions",
            params=params,
            data=data,
            headers={"Content-Type": "application/json"},
        )
        assert response.status == 400, (params, data)
        assert (await response.json())["error"]["code"] == code, (params, data)
    response = await client.post(
        "/v1/executions", json={"workflow_id": workflow, "idempotency_key": ""}
    )
    assert response.status == 400
    assert (await response.json())["error"]["field"] == "idempotency_key"


async def test_a_payload_above_the_limit_is_413_naming_its_field(
    client: Client, workflow: str
) -> None:
    # Above MAX_PAYLOAD_BYTES (512 KiB) but below the 1 MiB body limit.
    response = await client.post(
        "/v1/executions", json={"workflow_id": workflow, "input": {"blob": "x" * 600_000}}
    )
    assert response.status == 413
    error = (await response.json())["error"]
    assert error["code"] == "payload_too_large" and "524288" in error["message"]
    assert error["field"] == "input"
    response = await client.post(
        f"/v1/executions/{unique('exec-big-signal')}/signal",
        json={"name": "go", "payload": "y" * 600_000},
    )
    assert response.status == 413
    assert (await response.json())["error"]["field"] == "payload"


async def test_start_of_an_unknown_workflow_or_version_is_404(
    client: Client, workflow: str
) -> None:
    response = await client.post("/v1/executions", json={"workflow_id": unique("nowhere")})
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
    response = await client.post(
        "/v1/executions", json={"workflow_id": workflow, "workflow_version": 99}
    )
    assert response.status == 404
    assert f"{workflow}:99" in (await response.json())["error"]["message"]


async def test_start_and_wait_returns_the_closed_execution(
    client: Client, db: psycopg.AsyncConnection[Any], commands: Tap, workflow: str
) -> None:
    key = unique("wait")
    execution_id = execution_id_for(workflow, key)

    async def sink() -> None:
        # Plays the processor and the visibility sink: the execution appears once the start
        # command is on Kafka, then closes.
        [command] = await _received(commands, execution_id)
        await insert_execution(db, execution_id, workflow, input=command["input"], last_event_id=2)
        await insert_node(db, execution_id, "shape", "completed", offset_ms=1, output={"v": 1})
        await close_execution(db, execution_id, "completed", 3, output={"v": 1})

    playing = asyncio.create_task(sink())
    response = await client.post(
        "/v1/executions",
        params={"wait": "30"},
        json={"workflow_id": workflow, "idempotency_key": key, "input": {"x": 1}},
    )
    await playing
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["execution_id"] == execution_id
    execution = answer["execution"]
    assert execution["status"] == "completed"
    assert execution["output"] == {"v": 1}
    assert execution["input"] == {"x": 1}
    assert [n["node_id"] for n in execution["nodes"]] == ["shape"]


async def test_start_and_wait_gives_up_at_the_deadline(
    client: Client, db: psycopg.AsyncConnection[Any], workflow: str
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.post(
        "/v1/executions", params={"wait": "0.3"}, json={"workflow_id": workflow}
    )
    assert response.status == 202
    assert (await response.json())["execution"] is None  # nothing projected it
    assert loop.time() - started >= 0.3

    # Projected but still running at the deadline: 202 with what was seen.
    key = unique("running")
    await insert_execution(db, execution_id_for(workflow, key), workflow)
    response = await client.post(
        "/v1/executions",
        params={"wait": "0.2"},
        json={"workflow_id": workflow, "idempotency_key": key},
    )
    assert response.status == 202
    assert (await response.json())["execution"]["status"] == "running"


async def test_signal_cancel_terminate_publish_commands(
    client: Client, db: psycopg.AsyncConnection[Any], commands: Tap
) -> None:
    execution_id = unique("exec-steer")
    await insert_execution(db, execution_id, "wf-steer")

    response = await client.post(
        f"/v1/executions/{execution_id}/signal",
        json={"name": "approve", "payload": {"by": "ana"}},
    )
    assert response.status == 202
    signal_answer = await response.json()
    response = await client.post(
        f"/v1/executions/{execution_id}/cancel", json={"reason": "not needed", "identity": "ana"}
    )
    assert response.status == 202
    response = await client.post(f"/v1/executions/{execution_id}/terminate")  # no body
    assert response.status == 202
    terminate_answer = await response.json()

    signal, cancel, terminate = await _received(commands, execution_id, count=3)
    assert signal["input_type"] == "SignalWorkflow"
    assert signal["request_id"] == signal_answer["request_id"]
    assert (signal["signal_name"], signal["payload"]) == ("approve", {"by": "ana"})
    assert cancel["input_type"] == "CancelWorkflow"
    assert (cancel["reason"], cancel["identity"]) == ("not needed", "ana")
    assert terminate["input_type"] == "TerminateWorkflow"
    assert (terminate["reason"], terminate["identity"]) == ("", "linkflow-api")
    assert terminate["request_id"] == terminate_answer["request_id"]
    assert len({signal["request_id"], cancel["request_id"], terminate["request_id"]}) == 3


async def test_commands_to_closed_executions_are_refused_and_to_unseen_ones_accepted(
    client: Client, db: psycopg.AsyncConnection[Any]
) -> None:
    missing = unique("exec-missing")
    closed = unique("exec-closed")
    await insert_execution(db, closed, "wf-closed", status="completed")
    for action, body in (("signal", {"name": "go"}), ("cancel", {}), ("terminate", {})):
        # The view may lag a start that was just accepted: the engine decides instead.
        response = await client.post(f"/v1/executions/{missing}/{action}", json=body)
        assert response.status == 202, action
        answer = await response.json()
        assert (answer["execution_id"], answer["execution_visible"]) == (missing, False)
        response = await client.post(f"/v1/executions/{closed}/{action}", json=body)
        assert response.status == 409, action
        error = (await response.json())["error"]
        assert (error["code"], error["status"]) == ("execution_closed", "completed")


async def test_command_bodies_are_checked(client: Client, db: psycopg.AsyncConnection[Any]) -> None:
    execution_id = unique("exec-bodies")
    await insert_execution(db, execution_id, "wf-bodies")
    path = f"/v1/executions/{execution_id}"
    for action, data, field in (
        ("signal", b"{}", "name"),
        ("signal", b'{"name": ""}', "name"),
        ("signal", b'{"name": "x", "extra": 1}', "extra"),
        ("cancel", b'{"reason": 5}', "reason"),
        ("terminate", b'{"why": "x"}', "why"),
    ):
        response = await client.post(
            f"{path}/{action}", data=data, headers={"Content-Type": "application/json"}
        )
        assert response.status == 400, (action, data)
        assert (await response.json())["error"]["field"] == field
    response = await client.post(f"{path}/signal", data=b"{oops")
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_json"
    response = await client.post(f"{path}/cancel?force=1")
    assert response.status == 400
    assert (await response.json())["error"]["parameter"] == "force"


async def _raw_exchange(client: Client, head: bytes, body: bytes = b"") -> tuple[bytes, float]:
    """Send a hand-made request; the response's first bytes and how long it took."""
    started = asyncio.get_running_loop().time()
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), 30)
    finally:
        writer.close()
    return answer, asyncio.get_running_loop().time() - started


async def test_a_body_that_lies_about_its_length_does_not_hold_the_connection(
    services: Services,
) -> None:
    """Issue 16, case 4: `Content-Length: 99999999999` without a body was held past 30 s."""
    async with running_api(services, body_read_seconds=0.5) as api:
        head = (
            "POST /v1/executions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: {}\r\n\r\n"
        )
        answer, took = await _raw_exchange(api, head.format(99999999999).encode())
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b'"payload_too_large"' in answer
        answer, took = await _raw_exchange(api, head.format(100).encode(), b'{"workflow_id"')
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"request_timeout"' in answer
        assert took < 10


async def test_an_over_long_id_is_a_json_problem(client: Client) -> None:
    """Issue 16, case 4: a 100,000-character id got aiohttp's plain-text 400."""
    long_id = "x" * 100_000
    response = await client.get(f"/v1/executions/{long_id}")
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "invalid_parameter" and "1000" in error["message"]
    response = await client.post(f"/v1/executions/{long_id}/signal", json={"name": "go"})
    assert response.status == 400
    response = await client.post("/v1/executions", json={"workflow_id": long_id})
    assert response.status == 400
    assert (await response.json())["error"]["field"] == "workflow_id"
