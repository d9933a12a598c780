"""`linkflow replay` on the real stack: executions recorded by the runtime, read back through
the API, decide again without divergence; a changed workflow (registered as a new version,
or a file not registered yet) is caught at its first divergent event."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_runtime_support import Runtime, http_get, runtime_with_api, unique_id
from test_timers_support import wait_until

from linkflow.cli.main import main


@pytest.fixture(scope="module")
def rt(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Runtime, str]]:
    folder = tmp_path_factory.mktemp("replay")
    with runtime_with_api(kafka_bootstrap, database_url, folder, "replay") as started:
        yield started


def _body(url: str) -> dict[str, Any]:
    status, body, _ = http_get(url)
    return body if status == 200 else {}


def order(workflow_id: str) -> dict[str, Any]:
    return {
        "id": workflow_id,
        "version": 1,
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "charge", "type": "echo", "config": {"value": "{{ trigger.amount }}"}},
            {"id": "big", "type": "if", "config": {"condition": "trigger.amount > 100"}},
            {"id": "approve", "type": "approval", "config": {"signal": "approve"}},
            {"id": "done", "type": "echo", "config": {"value": "done"}},
        ],
        "edges": [
            {"source": "start", "target": "charge"},
            {"source": "charge", "target": "big"},
            {"source": "big", "target": "approve", "handle": "true"},
            {"source": "approve", "target": "done", "handle": "true"},
            {"source": "big", "target": "done", "handle": "false"},
        ],
    }


def test_replay_reports_no_divergence_then_the_first_one_of_a_changed_version(
    rt: tuple[Runtime, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime_, api = rt
    wf = unique_id("replay-order")
    doc = order(wf)
    runtime_.register(doc)
    big = [runtime_.client.start(wf, {"amount": 250}) for _ in range(2)]
    small = runtime_.client.start(wf, {"amount": 50})
    for execution_id in big:
        runtime_.wait_for_event(execution_id, "MarkerRecorded")
        runtime_.client.signal(execution_id, "approve", {"approved": True})
    ids = [*big, small]
    for execution_id in ids:
        assert runtime_.wait(execution_id).status == "completed"
    wait_until(
        lambda: all(_body(f"{api}/v1/executions/{e}").get("status") == "completed" for e in ids),
        60,
        "the API to show the executions",
    )

    capsys.readouterr()
    assert main(["replay", *ids, "--api", api]) == 0
    out = capsys.readouterr().out
    assert all(f"{e}: ok" in out for e in ids), out
    assert "3 replayed: 0 divergent, 0 not replayable" in out

    # Version 2 takes the approval only above 1000: the recorded 250s diverge where `big`
    # completed; the 50 does not.
    v2 = copy.deepcopy(doc)
    v2["version"] = 2
    v2["nodes"][2]["config"]["condition"] = "trigger.amount > 1000"
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(v2))
    history = runtime_.history(big[0])
    branch = next(e for e in history if e["attributes"].get("node_id") == "big")

    assert main(["replay", "--workflow", wf, "--definition", str(path), "--api", api]) == 1
    out = capsys.readouterr().out
    assert f"{small}: ok" in out, out
    for execution_id in big:
        assert f"{execution_id}: diverges at event {branch['event_id']}" in out, out
    assert "3 replayed on version 2: 2 divergent" in out

    runtime_.register(v2)
    wait_until(
        lambda: len(_body(f"{api}/v1/workflows/{wf}").get("versions", [])) == 2, 60, "version 2"
    )
    argv = ["replay", "--workflow", wf, "--version", "2", "--sample", "5", "--json"]
    assert main([*argv, "--api", api]) == 1
    results = {r["execution_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(results) == set(ids)
    assert results[small]["ok"] and not results[big[1]]["ok"]
    divergence = results[big[1]]["divergence"]
    assert divergence["recorded"]["attributes"]["handle"] == "true"
    assert divergence["replayed"]["attributes"]["handle"] == "false"
    # v1 executions replayed by id still use version 1: no divergence.
    assert main(["replay", *ids, "--api", api]) == 0
    capsys.readouterr()

    assert main(["replay", small, "--workflow", wf, "--api", api]) == 2
    assert main(["replay", "--workflow", wf, "--version", "9", "--api", api]) == 1
    assert "has no version 9" in capsys.readouterr().err


def test_reset_goes_on_from_an_event_and_replays(
    rt: tuple[Runtime, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A running execution waiting for its approval is reset to the decision where `charge`
    completed: the source is terminated, the new run waits for the approval again without
    charging twice, completes when approved, and replays without divergence."""
    runtime_, api = rt
    wf = unique_id("reset-order")
    runtime_.register(order(wf))
    source = runtime_.client.start(wf, {"amount": 250})
    runtime_.wait_for_event(source, "MarkerRecorded")
    charged = next(
        e
        for e in runtime_.history(source)
        if e["event_type"] == "NodeCompleted" and e["attributes"]["node_id"] == "charge"
    )
    wait_until(
        lambda: (
            len(_body(f"{api}/v1/executions/{source}/history").get("events", []))
            >= charged["event_id"]
        ),
        60,
        "the API to show the source's history",
    )
    capsys.readouterr()
    argv = ["reset", source, "--to", str(charged["event_id"]), "--reason", "test", "--api", api]
    assert main(argv) == 0
    captured = capsys.readouterr()
    new_id = captured.out.strip()
    assert f"of {source} copied; the source is being terminated" in captured.err

    assert runtime_.wait(source).status == "terminated"
    runtime_.wait_for_event(new_id, "MarkerRecorded")
    runtime_.client.signal(new_id, "approve", {"approved": True})
    assert runtime_.wait(new_id).status == "completed"
    history = runtime_.history(new_id)
    scheduled = [
        e["attributes"]["node_id"] for e in history if e["event_type"] == "ActivityTaskScheduled"
    ]
    assert scheduled.count("charge") == 1  # copied, not run again
    reset = next(
        e["attributes"]["details"]
        for e in history
        if e["event_type"] == "MarkerRecorded"
        and e["attributes"]["marker_name"] == "execution_reset"
    )
    assert (reset["source_execution_id"], reset["reason"]) == (source, "test")
    assert reset["last_event_id"] >= charged["event_id"]
    wait_until(
        lambda: _body(f"{api}/v1/executions/{new_id}").get("status") == "completed",
        60,
        "the API to show the new run completed",
    )
    assert main(["replay", new_id, "--api", api]) == 0
    assert f"{new_id}: ok" in capsys.readouterr().out

    # The decision that closed an execution is no reset point; unknown executions are 404.
    last = len(history)
    assert main(["reset", new_id, "--to", str(last), "--api", api]) == 1
    assert "belongs to the decision that closed the execution" in capsys.readouterr().err
    assert main(["reset", "no-such-execution", "--to", "1", "--api", api]) == 1
    assert "no-such-execution" in capsys.readouterr().err
