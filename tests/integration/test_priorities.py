"""Task priorities on the real broker: with tasks of both kinds waiting, a worker with one
slot starts the high-priority task ahead of the normal ones queued before it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_runtime_support import Runtime, runtime, unique_id
from test_timers_support import wait_until

NORMAL = 12


@pytest.fixture(scope="module")
def rt(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with runtime(kafka_bootstrap, tmp_path_factory.mktemp("priorities"), "prio", start=False) as rt:
        rt.start_engine()
        rt.start_timers()
        yield rt


def _fan_out(workflow_id: str, count: int, priority: str) -> dict:
    nodes = [{"id": "start", "type": "trigger"}]
    edges = []
    for i in range(count):
        nodes.append({"id": f"a{i}", "type": "noop", "priority": priority})
        edges.append({"source": "start", "target": f"a{i}"})
    return {"id": workflow_id, "version": 1, "nodes": nodes, "edges": edges}


def _scheduled(rt: Runtime, execution_id: str, count: int) -> bool:
    events = rt.client.history(execution_id, timeout=5)
    return sum(e["event_type"] == "ActivityTaskScheduled" for e in events) == count


def test_a_high_priority_task_overtakes_the_normal_ones_waiting(rt: Runtime) -> None:
    bulk, urgent = unique_id("bulk"), unique_id("urgent")
    rt.register(_fan_out(bulk, NORMAL, "normal"))
    rt.register(_fan_out(urgent, 1, "high"))
    slow = rt.client.start(bulk, {})
    wait_until(lambda: _scheduled(rt, slow, NORMAL), 60, "the normal tasks to be queued")
    fast = rt.client.start(urgent, {})
    wait_until(lambda: _scheduled(rt, fast, 1), 60, "the high-priority task to be queued")

    rt.start_worker("worker", "default", "--concurrency", "1")
    assert rt.wait(fast).status == "completed"
    assert rt.wait(slow).status == "completed"
    finished = {
        e["attributes"]["activity_id"]: e["timestamp_ms"]
        for e in rt.client.history(slow)
        if e["event_type"] == "ActivityTaskCompleted"
    }
    urgent_done = next(
        e["timestamp_ms"]
        for e in rt.client.history(fast)
        if e["event_type"] == "ActivityTaskCompleted"
    )
    # One slot: the first fetched normal task may already hold it; the high one goes next.
    before = sum(1 for ts in finished.values() if ts < urgent_done)
    assert before <= 2, (before, sorted(finished.values()), urgent_done)
