"""Probes, metrics, and answers when a backing service is away or the route is wrong."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from psycopg.types.json import Jsonb
from test_api_support import (
    Services,
    connect,
    insert_execution,
    prepare,
    running_api,
    unique,
    workflow_doc,
)
from test_sink_support import TcpProxy

pytestmark = pytest.mark.asyncio(loop_scope="module")

Client = TestClient[Any, Any]
# Nothing listens on port 1 of the loopback interface: connections are refused at once.
NOWHERE_KAFKA = "127.0.0.1:1"


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


def _nowhere_postgres(database_url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    info.update(host="127.0.0.1", port="1", connect_timeout="1")
    return psycopg.conninfo.make_conninfo(**info)


async def test_healthz_and_readyz(client: Client) -> None:
    response = await client.get("/healthz")
    assert (response.status, await response.json()) == (200, {"status": "ok"})
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {
        "status": "ready",
        "checks": {"kafka": {"ok": True}, "postgres": {"ok": True}},
    }


async def test_readyz_names_an_unreachable_postgres(services: Services) -> None:
    async with running_api(
        services,
        database_url=_nowhere_postgres(services.database_url),
        follow_definitions=False,
        probe_timeout_seconds=1.0,
        pool_timeout_seconds=1.0,
    ) as client:
        response = await client.get("/readyz")
        assert response.status == 503
        body = await response.json()
        assert body["error"]["code"] == "not_ready"
        assert body["error"]["failed"] == ["postgres"]
        assert body["error"]["message"].startswith("postgres: ")
        assert body["checks"]["kafka"] == {"ok": True}
        assert body["checks"]["postgres"]["ok"] is False
        # Data requests answer 503 too, not 500.
        response = await client.get("/v1/executions")
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "postgres_unavailable"
        assert (await client.get("/healthz")).status == 200


async def test_readyz_names_an_unreachable_kafka(
    services: Services, db: psycopg.AsyncConnection[Any]
) -> None:
    workflow_id = unique("wf-nokafka")
    await db.execute(
        "INSERT INTO workflow_definitions (workflow_id, version, definition, registered_at)"
        " VALUES (%s, 1, %s, %s)",
        (workflow_id, Jsonb(workflow_doc(workflow_id)), datetime.now(UTC)),
    )
    async with running_api(
        services,
        kafka_bootstrap=NOWHERE_KAFKA,
        follow_definitions=False,
        probe_timeout_seconds=1.0,
        publish_timeout_seconds=1.0,
    ) as client:
        response = await client.get("/readyz")
        assert response.status == 503
        body = await response.json()
        assert body["error"]["failed"] == ["kafka"]
        assert body["checks"]["postgres"] == {"ok": True}
        # A command that Kafka does not acknowledge is a 503, not a silent 202.
        response = await client.post("/v1/executions", json={"workflow_id": workflow_id})
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "kafka_unavailable"


async def test_metrics_count_requests_by_route_template(
    client: Client, db: psycopg.AsyncConnection[Any]
) -> None:
    execution_id = unique("exec-metrics")
    await insert_execution(db, execution_id, "wf-metrics")
    assert (await client.get(f"/v1/executions/{execution_id}")).status == 200
    assert (await client.get(f"/v1/executions/{unique('nope')}")).status == 404
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    route = 'route="/v1/executions/{execution_id}"'
    assert f'linkflow_api_requests_total{{method="GET",{route},status="200"}}' in text
    assert f'linkflow_api_requests_total{{method="GET",{route},status="404"}}' in text
    assert "linkflow_api_request_duration_seconds_bucket" in text
    assert "linkflow_api_sse_streams" in text
    assert execution_id not in text  # raw paths never become labels


async def test_unknown_routes_and_methods_answer_json(client: Client) -> None:
    response = await client.get("/v2/everything")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
    response = await client.delete("/v1/executions")
    assert response.status == 405
    assert (await response.json())["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(",")) == {"GET", "POST"}
    response = await client.post(
        "/v1/workflows",
        data=b"x" * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"


async def test_ready_and_queries_come_back_soon_after_postgres_does(services: Services) -> None:
    """PostgreSQL away for longer than a few reconnection attempts (connections cut, new
    ones refused), then back: the service answers 503 quickly while it is away, and is
    ready and answers queries again within seconds of its return, not after a backoff that
    grew during the outage."""
    info = psycopg.conninfo.conninfo_to_dict(services.database_url)
    proxy = TcpProxy(str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432))
    proxy.start()
    try:
        async with running_api(
            services,
            database_url=proxy.url(services.database_url),
            follow_definitions=False,
            pool_timeout_seconds=2.0,
        ) as api:
            await _until(api, "/readyz", 200, 30)
            proxy.stop()
            started = time.monotonic()
            await _until(api, "/readyz", 503, 30)
            response = await api.get("/v1/executions")
            assert response.status == 503
            # Long enough for an exponential backoff to grow past 8 s between attempts.
            while time.monotonic() - started < OUTAGE_SECONDS:
                response = await api.get("/readyz")
                assert response.status == 503
                await asyncio.sleep(0.5)  # polls the probe as an orchestrator would
            proxy.start()
            back = time.monotonic()
            await _until(api, "/readyz", 200, 30)
            ready = time.monotonic() - back
            await _until(api, "/v1/executions", 200, 30)
            answering = time.monotonic() - back
            print(f"ready {ready:.2f} s and answering {answering:.2f} s after PostgreSQL")
            assert answering < RECOVERY_SECONDS
    finally:
        proxy.stop()


OUTAGE_SECONDS = 16.0
RECOVERY_SECONDS = 3.0


async def _until(api: Client, path: str, status: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        response = await api.get(path)
        last = response.status
        if last == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} answered {last}, not {status}, for {timeout}s")
