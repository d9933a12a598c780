"""Workspaces end to end on the real broker and PostgreSQL: the API (with tokens of three
workspaces) shows a workspace only its own workflows and executions, a command from another
workspace is dead-lettered by the history processor, and a workspace quota refuses a start
with a QuotaExceeded failure."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from test_runtime_support import Runtime, free_port, http_get, runtime, unique_id
from test_timers_support import read_dead_letters, wait_until

from linkflow.dlq import read_dead_letter_headers

TOKENS = {
    "acme": "acme-admin-token-0123456789",
    "globex": "globex-admin-token-0123456789",
    "tight": "tight-admin-token-0123456789",
}


def _call(api: str, workspace: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{api}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={
            "Authorization": f"Bearer {TOKENS[workspace]}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    if path.endswith("/events"):
        return status, raw.decode(errors="replace")
    return status, json.loads(raw or b"null")


@pytest.fixture(scope="module")
def tenants(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Runtime, str]]:
    folder = tmp_path_factory.mktemp("workspaces")
    tokens = folder / "tokens.json"
    tokens.write_text(
        json.dumps(
            [{"token": t, "role": "admin", "workspace": w, "name": w} for w, t in TOKENS.items()]
        )
    )
    quotas = folder / "quotas.yaml"
    quotas.write_text("workspaces:\n  tight: {max_running: 1}\n")
    with runtime(kafka_bootstrap, folder, "workspaces", start=False) as rt:
        rt.start_engine(env={"LINKFLOW_QUOTAS_FILE": str(quotas)})
        rt.start_timers()
        rt.start_worker("worker", "default")
        rt.start_sink(database_url)
        port = free_port()
        rt.start_api(database_url, port, env={"LINKFLOW_API_TOKENS_FILE": str(tokens)})
        rt.ready()
        api = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(f"{api}/healthz")[0] == 200, 60, "the API to answer")
        yield rt, api


def _waiting(workflow_id: str) -> dict[str, Any]:
    return {
        "id": workflow_id,
        "version": 1,
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "gate", "type": "wait_for_signal", "config": {"signal": "go"}},
        ],
        "edges": [{"source": "start", "target": "gate"}],
    }


def _start(api: str, workspace: str, workflow_id: str) -> str:
    status, body = _call(api, workspace, "POST", "/v1/executions", {"workflow_id": workflow_id})
    assert status == 202, body
    return str(body["execution_id"])


def _seen(api: str, workspace: str, execution_id: str, statuses: tuple[str, ...]) -> Any:
    found: list[Any] = []

    def check() -> bool:
        status, body = _call(api, workspace, "GET", f"/v1/executions/{execution_id}")
        found[:] = [body]
        return status == 200 and body["status"] in statuses

    wait_until(check, 60, f"{execution_id} to be {statuses} for {workspace}")
    return found[0]


def test_a_workspace_sees_and_touches_only_its_own(tenants: tuple[Runtime, str]) -> None:
    rt, api = tenants
    wf = unique_id("ws-flow")
    assert _call(api, "acme", "POST", "/v1/workflows", _waiting(wf))[0] == 201
    status, body = _call(api, "globex", "POST", "/v1/workflows", _waiting(wf))
    assert (status, body["error"]["code"]) == (409, "workflow_id_taken"), body

    execution = _start(api, "acme", wf)
    shown = _seen(api, "acme", execution, ("running",))
    assert shown["workspace"] == "acme"

    # For globex, acme's workflow and execution do not exist.
    for method, path, body in (
        ("GET", f"/v1/executions/{execution}", None),
        ("GET", f"/v1/executions/{execution}/history", None),
        ("GET", f"/v1/executions/{execution}/events", None),
        ("GET", f"/v1/workflows/{wf}", None),
        ("POST", "/v1/executions", {"workflow_id": wf}),
        ("POST", f"/v1/executions/{execution}/reset", {"event_id": 1}),
    ):
        status, answer = _call(api, "globex", method, path, body)
        assert status == 404, (method, path, answer)
    listed = _call(api, "globex", "GET", "/v1/executions?limit=500")[1]["executions"]
    assert execution not in [e["execution_id"] for e in listed]
    assert wf not in [
        w["workflow_id"] for w in _call(api, "globex", "GET", "/v1/workflows")[1]["workflows"]
    ]
    assert execution in [
        e["execution_id"] for e in _call(api, "acme", "GET", "/v1/executions")[1]["executions"]
    ]

    # A signal from globex is accepted as for an execution it cannot see yet, and the history
    # processor dead-letters it: acme's execution never hears of it.
    status, answer = _call(
        api, "globex", "POST", f"/v1/executions/{execution}/signal", {"name": "go"}
    )
    assert (status, answer["execution_visible"]) == (202, False), answer
    letters = read_dead_letters(
        rt.topics, lambda found: any(r.key() == execution.encode() for r in found), 60
    )
    letter = read_dead_letter_headers(
        next(r for r in letters if r.key() == execution.encode()).headers()
    )
    assert letter.reason == "wrong_workspace" and "'globex'" in letter.detail
    assert _call(api, "acme", "GET", f"/v1/executions/{execution}")[1]["status"] == "running"

    assert (
        _call(api, "acme", "POST", f"/v1/executions/{execution}/signal", {"name": "go"})[0] == 202
    )
    _seen(api, "acme", execution, ("completed",))
    events = _call(api, "acme", "GET", f"/v1/executions/{execution}/history")[1]["events"]
    assert sum(e["event_type"] == "WorkflowExecutionSignaled" for e in events) == 1


def test_a_start_over_the_workspace_quota_fails_with_the_reason(
    tenants: tuple[Runtime, str],
) -> None:
    _rt, api = tenants
    wf = unique_id("quota-flow")
    assert _call(api, "tight", "POST", "/v1/workflows", _waiting(wf))[0] == 201
    first = _start(api, "tight", wf)
    _seen(api, "tight", first, ("running",))

    refused = _start(api, "tight", wf)
    failed = _seen(api, "tight", refused, ("failed",))
    assert failed["error"]["type"] == "QuotaExceeded", failed
    assert "'tight'" in failed["error"]["message"] and "max_running 1" in failed["error"]["message"]
    events = _call(api, "tight", "GET", f"/v1/executions/{refused}/history")[1]["events"]
    assert [e["event_type"] for e in events] == [
        "WorkflowExecutionStarted",
        "WorkflowExecutionFailed",
    ]
    # Another workspace is not held back by tight's quota.
    other = unique_id("quota-free")
    assert _call(api, "acme", "POST", "/v1/workflows", _waiting(other))[0] == 201
    _seen(api, "acme", _start(api, "acme", other), ("running",))

    # Once the running one ends, the workspace may start again.
    assert _call(api, "tight", "POST", f"/v1/executions/{first}/signal", {"name": "go"})[0] == 202
    _seen(api, "tight", first, ("completed",))
    _seen(api, "tight", _start(api, "tight", wf), ("running",))
