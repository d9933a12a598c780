"""A full `linkflow dev down` and `linkflow dev up` (Kafka and PostgreSQL stopped and started
again by the real commands) between two loads: every earlier execution is still queryable
through the API with the status it had, executions that were waiting for an approval
resume when signalled, new ones run, and history and PostgreSQL agree at the end.

    .venv/bin/pytest tests/chaos -k dev_down                  # once (CI)
    tests/chaos/repeat.sh 5 -k dev_down                       # the loop
"""

from __future__ import annotations

import pytest
from checker import loader, verified
from test_runtime_kills import waits_and_branches
from test_runtime_support import OUTCOME_TIMEOUT, Runtime, free_port, http_get, unique_id
from test_timers_support import wait_until

from linkflow import settings
from linkflow.cli.main import main
from linkflow.dev.procs import port_open

APPROVALS = 10


def _start(rt: Runtime, database_url: str, api_port: int) -> None:
    rt.start_api(database_url, api_port)
    rt.start_with_sink(database_url)


@pytest.mark.skipif(settings.external_services(), reason="stops the local stack")
def test_dev_down_then_up_keeps_every_execution(rt: Runtime, database_url: str) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    _start(rt, database_url, port)
    wf, approval = unique_id("chaos-down"), unique_id("chaos-approve")
    rt.register(waits_and_branches(wf))
    rt.register(
        {
            "id": approval,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "approve", "type": "approval", "config": {"signal": "approve"}},
            ],
            "edges": [{"source": "start", "target": "approve"}],
        }
    )
    ids: list[str] = []
    loader(rt, wf, ids)(60)
    waiting = [rt.client.start(approval, {"n": i}) for i in range(APPROVALS)]
    for execution_id in ids:
        rt.wait(execution_id, timeout=OUTCOME_TIMEOUT)
    for execution_id in waiting:
        rt.wait_for_event(execution_id, "MarkerRecorded")

    def visible(execution_id: str, status: str) -> bool:
        code, body, _ = http_get(f"{api}/v1/executions/{execution_id}")
        return code == 200 and body["status"] == status

    wait_until(lambda: all(visible(e, "completed") for e in ids), 60, "rows before the down")
    for proc in rt.processes.values():
        proc.stop()
    bootstrap_port = int(rt.topics.bootstrap.rsplit(":", 1)[1])
    assert main(["dev", "down"]) == 0
    assert not port_open(bootstrap_port)
    assert main(["dev", "up"]) == 0

    _start(rt, database_url, port)
    for execution_id in ids:
        assert visible(execution_id, "completed"), execution_id
    for execution_id in waiting:
        assert visible(execution_id, "running"), execution_id
        rt.client.signal(execution_id, "approve", {"approved": True})
    more: list[str] = []
    loader(rt, wf, more)(40)
    for execution_id in waiting + more:
        assert rt.wait(execution_id, timeout=OUTCOME_TIMEOUT).status == "completed"
    everything = ids + waiting + more
    report = verified(rt.topics.bootstrap, rt.prefix, everything, "dev down/up", database_url)
    assert report.ok, report.table() + "\n" + rt.logs()
    assert report.mismatched_rows == []
    wait_until(lambda: all(visible(e, "completed") for e in waiting + more), 60, "rows after")
