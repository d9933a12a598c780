"""SIGKILL of the visibility sink, a worker or the timers processor, again and again, under a
load of executions with waits and parallel branches; each time the victim is started again.
The checker then reads history and PostgreSQL: every execution ended exactly once, no
event doubled or missing, and every visibility row equal to the fold of history.

    .venv/bin/pytest tests/chaos -k runtime_kills             # once per victim (CI)
    tests/chaos/repeat.sh 5 -k runtime_kills                  # the loop
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from checker import loader, verified
from test_runtime_support import OUTCOME_TIMEOUT, Process, Runtime, unique_id

KILLS = 3
LOAD_PER_LIFE = 40  # executions started while a victim lives, before it is killed
EXECUTIONS_AFTER = 60


def waits_and_branches(workflow_id: str) -> dict[str, Any]:
    """trigger -> a -> wait 300 ms -> (b, c in parallel) -> join -> d: activities on the
    worker, a timer on the timers processor, several decisions per execution."""
    echo = lambda i: {"id": i, "type": "echo", "config": {"value": i}}  # noqa: E731
    return {
        "id": workflow_id,
        "version": 1,
        "nodes": [
            {"id": "start", "type": "trigger"},
            echo("a"),
            {"id": "pause", "type": "wait", "config": {"duration": "300ms"}},
            echo("b"),
            echo("c"),
            {"id": "join", "type": "merge", "config": {"mode": "all"}},
            echo("d"),
        ],
        "edges": [
            {"source": "start", "target": "a"},
            {"source": "a", "target": "pause"},
            {"source": "pause", "target": "b"},
            {"source": "pause", "target": "c"},
            {"source": "b", "target": "join"},
            {"source": "c", "target": "join"},
            {"source": "join", "target": "d"},
        ],
    }


@pytest.mark.parametrize("victim", ["sink", "worker", "timers"])
def test_runtime_process_killed_repeatedly_under_load(
    rt: Runtime, database_url: str, victim: str
) -> None:
    start: dict[str, Any] = {
        "sink": lambda: rt.start_sink(database_url),
        "worker": lambda: rt.start_worker("worker", "default"),
        "timers": lambda: rt.start_timers(),
    }
    rt.start_engine()
    for begin in start.values():
        begin()
    rt.ready()
    wf = unique_id("chaos-rt")
    rt.register(waits_and_branches(wf))

    ids: list[str] = []
    load = loader(rt, wf, ids)
    for _ in range(KILLS):
        for _ in range(LOAD_PER_LIFE // 4):
            load(4)
            time.sleep(random.uniform(0, 0.1))  # paces the load; not a wait for a condition
        proc: Process = rt.processes[victim]
        proc.kill()  # SIGKILL, mid-work
        start[victim]()
    load(EXECUTIONS_AFTER)

    for execution_id in ids:
        rt.wait(execution_id, timeout=OUTCOME_TIMEOUT)
    report = verified(rt.topics.bootstrap, rt.prefix, ids, f"{victim}, {KILLS} kills", database_url)
    assert report.ok, report.table() + "\n" + rt.logs()
    assert len(report.terminal & set(ids)) == len(ids)
    assert report.mismatched_rows == []
