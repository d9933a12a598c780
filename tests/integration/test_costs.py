"""Cost tracking end to end: what an execution's activities used (handler time, attempts,
bytes, and the usage the http handler reports) reaches PostgreSQL, the API, the CLI, and the
per-workflow sums."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_runtime_support import http_get, http_server, runtime_with_api, unique_id
from test_timers_support import wait_until

from linkflow.cli.main import main


def test_an_executions_usage_is_summed_per_node_execution_and_workflow(
    kafka_bootstrap: str,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wf = unique_id("costly")
    with (
        http_server() as web,
        runtime_with_api(kafka_bootstrap, database_url, tmp_path, "costs") as (rt, api),
    ):
        rt.start_worker("http-worker", "http")
        rt.register(
            {
                "id": wf,
                "version": 1,
                "nodes": [
                    {"id": "start", "type": "trigger"},
                    {
                        "id": "call",
                        "type": "http",
                        "config": {"url": f"{web.url}/flaky/{wf}"},
                        "retry": {"max_attempts": 3, "initial_interval": "100ms"},
                    },
                    {"id": "again", "type": "http", "config": {"url": f"{web.url}/echo"}},
                ],
                "edges": [
                    {"source": "start", "target": "call"},
                    {"source": "call", "target": "again"},
                ],
            }
        )
        execution_id = rt.client.start(wf, {})
        assert rt.wait(execution_id).status == "completed"

        def shown() -> dict | None:
            status, body, _ = http_get(f"{api}/v1/executions/{execution_id}")
            return body if status == 200 and body["status"] == "completed" else None

        wait_until(lambda: shown() is not None, 60, "the API to show it completed")
        execution = shown()
        assert execution is not None
        cost = execution["cost"]
        # call: a 503, then a 200; again: one 200.
        assert cost["usage"]["http_requests"] == 3
        assert cost["usage"]["http_response_bytes"] > 0
        assert cost["attempts"] == 3 and cost["bytes"] > 0
        nodes = {n["node_id"]: n for n in execution["nodes"]}
        assert nodes["call"]["usage"]["http_requests"] == 2
        assert nodes["call"]["duration_ms"] is not None and nodes["call"]["bytes"] > 0
        assert cost["activity_ms"] == nodes["call"]["duration_ms"] + nodes["again"]["duration_ms"]

        status, sums, _ = http_get(f"{api}/v1/workflows/{wf}/costs")
        assert status == 200, sums
        assert (sums["executions"], sums["running"]) == (1, 0)
        assert sums["usage"]["http_requests"] == 3
        assert sums["activity_ms"] == cost["activity_ms"]

        assert main(["get", execution_id, "--api", api]) == 0
        assert "attempt(s)" in capsys.readouterr().out
        assert main(["workflows", "costs", wf, "--api", api]) == 0
        out = capsys.readouterr().out
        assert "executions: 1 (0 running)" in out and "http_requests: 3" in out
