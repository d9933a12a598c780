"""Latency of the query service over 100,000 executions in Postgres.

    .venv/bin/python tests/bench/api_bench.py [--executions 100000] [--requests 2000] [--keep]

Loads the executions (three node rows each) with COPY into a scratch schema
(`linkflow_api_bench`, migrated like the real one, so the same tables and indexes), starts
`linkflow api serve` against it in a separate process, and times requests from this process
over loopback with one keep-alive connection, one request at a time:

  list/workflow+status  GET /v1/executions?workflow_id=W&status=completed&limit=50, walking
                        pages with the cursor (deep pages included)
  list/sa+time          GET /v1/executions?sa.customer=C&started_after=T&limit=50
  get                   GET /v1/executions/{id} of random executions (with node states)

Prints p50/p90/p99/max per request kind. The scratch schema is dropped at the end unless
--keep. Needs the local stack (`linkflow dev up`) or LINKFLOW_DATABASE_URL and
LINKFLOW_KAFKA_BOOTSTRAP (Kafka only has to answer /readyz).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from connect.migrate import migrate
from linkflow import settings

SCHEMA = "linkflow_api_bench"
WORKFLOWS = 20
CUSTOMERS = 1000
BASE = datetime(2025, 6, 1, tzinfo=UTC)
STATUSES = ["completed"] * 14 + ["running"] * 3 + ["failed"] * 2 + ["canceled"]
NODES = ("fetch", "transform", "notify")

EXECUTION_COLUMNS = (
    "execution_id, workflow_id, workflow_version, status, input, output, error, started_at, "
    "closed_at, updated_at, last_event_id, request_id, search_attributes"
)
NODE_COLUMNS = (
    "execution_id, node_id, scope, status, attempt, activity_id, node_type, task_queue, "
    "output, scheduled_at, started_at, finished_at, updated_at, last_event_id"
)


def scratch_url(database_url: str) -> str:
    info = conninfo_to_dict(database_url)
    info["options"] = f"-c search_path={SCHEMA}"
    return make_conninfo(**info)


def load(database_url: str, count: int, rng: random.Random) -> list[tuple[str, str, datetime]]:
    """Creates the scratch schema and loads `count` executions; returns (id, workflow, at)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    url = scratch_url(database_url)
    migrate(url)
    rows: list[tuple[str, str, datetime]] = []
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY executions ({EXECUTION_COLUMNS}) FROM STDIN") as copy:
                at = BASE
                for i in range(count):
                    # Bursts: every fifth start shares its predecessor's timestamp, so
                    # pages have ties in started_at like a busy system does.
                    if i % 5:
                        at += timedelta(milliseconds=rng.randint(1, 400))
                    execution_id = str(uuid.uuid4())
                    workflow_id = f"bench-wf-{rng.randrange(WORKFLOWS):02d}"
                    status = rng.choice(STATUSES)
                    closed = at + timedelta(seconds=2) if status != "running" else None
                    error = (
                        json.dumps({"type": "HttpError", "message": "503", "retryable": True})
                        if status == "failed"
                        else None
                    )
                    attrs = {
                        "customer": f"c{rng.randrange(CUSTOMERS)}",
                        "region": rng.choice(["eu", "us", "ap", "sa"]),
                    }
                    copy.write_row(
                        (
                            execution_id,
                            workflow_id,
                            1,
                            status,
                            json.dumps({"order": i, "items": [1, 2, 3]}),
                            json.dumps({"ok": True}) if status == "completed" else None,
                            error,
                            at,
                            closed,
                            closed or at,
                            12,
                            f"req-{execution_id}",
                            json.dumps(attrs),
                        )
                    )
                    rows.append((execution_id, workflow_id, at))
            with cur.copy(f"COPY node_executions ({NODE_COLUMNS}) FROM STDIN") as copy:
                for execution_id, _, at in rows:
                    for n, node in enumerate(NODES):
                        t = at + timedelta(milliseconds=10 * n)
                        copy.write_row(
                            (
                                execution_id,
                                node,
                                "",
                                "completed",
                                1,
                                f"{execution_id}/{node}",
                                "http",
                                "default",
                                json.dumps({"status": 200}),
                                t,
                                t,
                                t + timedelta(milliseconds=5),
                                t + timedelta(milliseconds=5),
                                4 + 3 * n,
                            )
                        )
        conn.commit()
        conn.execute("ANALYZE executions")
        conn.execute("ANALYZE node_executions")
    print(
        f"loaded {count} executions and {count * len(NODES)} node rows with COPY "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(session: aiohttp.ClientSession, base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the API did not become ready")
        await asyncio.sleep(0.1)


async def timed(session: aiohttp.ClientSession, url: str, params: Any = None) -> tuple[float, Any]:
    started = time.perf_counter()
    async with session.get(url, params=params) as response:
        body = await response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{url} {params}: {response.status} {body[:200]!r}")
    return elapsed, json.loads(body)


async def measure(
    base: str, rows: list[tuple[str, str, datetime]], requests: int, rng: random.Random
) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"list/workflow+status": [], "list/sa+time": [], "get": []}
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_ready(session, base)
        for _ in range(50):  # warm caches and prepared statements
            await timed(session, f"{base}/v1/executions/{rng.choice(rows)[0]}")
            await timed(session, f"{base}/v1/executions", {"limit": "50"})

        samples = results["list/workflow+status"]
        while len(samples) < requests:
            params = {
                "workflow_id": f"bench-wf-{rng.randrange(WORKFLOWS):02d}",
                "status": "completed",
                "limit": "50",
            }
            for _page in range(rng.randint(1, 40)):
                elapsed, page = await timed(session, f"{base}/v1/executions", params)
                samples.append(elapsed)
                if page["next_cursor"] is None or len(samples) >= requests:
                    break
                params = {**params, "cursor": page["next_cursor"]}

        span = rows[-1][2] - rows[0][2]
        for _ in range(requests):
            after = rows[0][2] + span * rng.random()
            params = {
                "sa.customer": f"c{rng.randrange(CUSTOMERS)}",
                "started_after": after.isoformat(),
                "limit": "50",
            }
            elapsed, _page = await timed(session, f"{base}/v1/executions", params)
            results["list/sa+time"].append(elapsed)

        for _ in range(requests):
            execution_id = rng.choice(rows)[0]
            elapsed, body = await timed(session, f"{base}/v1/executions/{execution_id}")
            assert len(body["nodes"]) == len(NODES)
            results["get"].append(elapsed)
    return results


def report(results: dict[str, list[float]]) -> None:
    print(f"{'request':<22}{'n':>6}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, samples in results.items():
        q = statistics.quantiles(samples, n=100, method="inclusive")
        print(
            f"{name:<22}{len(samples):>6}{q[49] * 1000:>9.2f}{q[89] * 1000:>9.2f}"
            f"{q[98] * 1000:>9.2f}{max(samples) * 1000:>9.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000, help="samples per request kind")
    parser.add_argument("--keep", action="store_true", help="keep the scratch schema")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    database_url = settings.database_url()
    rows = load(database_url, args.executions, rng)

    port = free_port()
    linkflow = Path(sys.executable).with_name("linkflow")
    server = subprocess.Popen(
        [
            str(linkflow),
            "api",
            "serve",
            "--port",
            str(port),
            "--database-url",
            scratch_url(database_url),
            "--no-migrate",
            "--log-level",
            "WARNING",
        ],
        env={**os.environ, "LINKFLOW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap()},
    )
    try:
        results = asyncio.run(measure(f"http://127.0.0.1:{port}", rows, args.requests, rng))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
        if not args.keep:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
