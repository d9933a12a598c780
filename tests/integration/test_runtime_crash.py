"""Crashes in the middle of executions, on the real broker: the history processor killed
with SIGKILL at each point of a batch's transaction (restarted in place, or replaced by an
instance that restores from the changelog), two history processors sharing partitions
through rebalances, the timers processor and a worker killed, and an activity timed out on
a frozen worker and retried on another.

Every execution must end exactly once, and its history (read with read_committed) must hold
consecutive event ids with no two different events under one id."""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from test_runtime_support import OUTCOME_TIMEOUT, Process, Runtime, linear, runtime, unique_id
from test_timers_support import STARTUP, unique, wait_until

from linkflow import transport
from linkflow.client.client import TERMINAL_EVENTS
from linkflow.codec import decode_history

EXECUTIONS = 24


@pytest.fixture
def rt(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Runtime]:
    with runtime(kafka_bootstrap, tmp_path, "crash", start=False) as rt:
        yield rt


@dataclass
class Histories:
    """Every history record of a runtime, per execution, copies included."""

    raw: dict[str, list[dict[str, Any]]]

    def copies(self) -> int:
        """How many records repeat an event already seen."""
        return sum(
            len(events) - len({e["event_id"] for e in events}) for events in self.raw.values()
        )

    def checked(self, execution_id: str) -> list[dict[str, Any]]:
        """The execution's events, one per id, after checking the history is sound."""
        by_id: dict[int, dict[str, Any]] = {}
        for event in self.raw.get(execution_id, []):
            seen = by_id.setdefault(event["event_id"], event)
            assert seen == event, f"two different events with one id in {execution_id}"
        events = [by_id[i] for i in sorted(by_id)]
        assert [e["event_id"] for e in events] == list(range(1, len(events) + 1)), execution_id
        terminal = [e for e in events if e["event_type"] in TERMINAL_EVENTS]
        assert len(terminal) == 1, (execution_id, [e["event_type"] for e in events])
        assert events[-1] is terminal[0], execution_id
        return events


def read_histories(rt: Runtime) -> Histories:
    """The whole history topic, read to its end."""
    topic = rt.prefix + transport.HISTORY
    consumer = Consumer(
        {
            "bootstrap.servers": rt.topics.bootstrap,
            "group.id": unique("crash-reader"),
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(rt.topics.partitions)])
    raw: dict[str, list[dict[str, Any]]] = defaultdict(list)
    at_end: set[int] = set()
    deadline = time.monotonic() + 60
    try:
        while len(at_end) < rt.topics.partitions:
            assert time.monotonic() < deadline, "history topic not read to its end in 60 s"
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error():
                    if msg.error().code() == -191:  # partition EOF
                        at_end.add(msg.partition())
                    continue
                at_end.discard(msg.partition())
                event = decode_history(msg.value())
                raw[event["execution_id"]].append(event)
    finally:
        consumer.close()
    return Histories(dict(raw))


def fan_out(workflow_id: str) -> dict[str, Any]:
    """trigger -> a -> (b, c in parallel) -> join -> d: several decisions per execution,
    with results of parallel branches arriving together."""
    node = lambda i, t="echo": {"id": i, "type": t, "config": {"value": i}}  # noqa: E731
    return {
        "id": workflow_id,
        "version": 1,
        "nodes": [
            {"id": "start", "type": "trigger"},
            node("a"),
            node("b"),
            node("c"),
            {"id": "join", "type": "merge", "config": {"mode": "all"}},
            node("d"),
        ],
        "edges": [
            {"source": "start", "target": "a"},
            {"source": "a", "target": "b"},
            {"source": "a", "target": "c"},
            {"source": "b", "target": "join"},
            {"source": "c", "target": "join"},
            {"source": "join", "target": "d"},
        ],
    }


def start_many(rt: Runtime, workflow_id: str, count: int = EXECUTIONS) -> list[str]:
    ids = [rt.client.start(workflow_id, {"n": i}) for i in range(count)]
    rt.client.flush()
    return ids


def wait_all_completed(rt: Runtime, ids: list[str]) -> Histories:
    """Until every execution has ended; their histories, checked."""
    for execution_id in ids:
        try:
            rt.wait(execution_id)
        except AssertionError as exc:
            events = read_histories(rt).raw.get(execution_id, [])
            summary = "\n".join(
                f"{e['event_id']} {e['event_type']} {e['attributes']}" for e in events
            )
            raise AssertionError(f"{exc}\nits history:\n{summary}") from None
    histories = read_histories(rt)
    for execution_id in ids:
        events = histories.checked(execution_id)
        assert events[-1]["event_type"] == "WorkflowExecutionCompleted", (
            execution_id,
            events[-1],
        )
    return histories


def wait_killed(proc: Process, rt: Runtime, timeout: float = STARTUP) -> None:
    def dead() -> bool:
        return not proc.alive()

    try:
        wait_until(dead, timeout, f"{proc.name} to reach its crash point", interval=0.1)
    except AssertionError:
        raise AssertionError(rt.logs()) from None
    assert proc.proc is not None and proc.proc.returncode == -signal.SIGKILL, rt.logs()
    assert "crash point" in proc.log_text()


@pytest.mark.parametrize(
    ("point", "restart"),
    [
        ("history.before_begin", "in_place"),
        ("history.after_produce", "in_place"),
        ("history.in_commit", "in_place"),
        ("history.after_commit", "in_place"),
        ("history.after_produce", "elsewhere"),
        ("history.after_commit", "elsewhere"),
    ],
)
def test_history_processor_sigkill_at_each_point_of_the_transaction(
    rt: Runtime, point: str, restart: str
) -> None:
    """Killed before a batch's transaction begins, after its records are produced, while it
    commits, or after it committed but before the local store was written; restarted on its
    own local store, or replaced by an instance with an empty one."""
    rt.start_timers()
    rt.start_worker()
    wf = unique_id("crash")
    rt.register(fan_out(wf))
    # The fourth batch: the first executions are past their start by then.
    engine = rt.start_engine("engine", env={"LINKFLOW_CRASH_AT": f"{point}:4"})
    ids = start_many(rt, wf)
    wait_killed(engine, rt)

    if restart == "in_place":
        rt.start_engine("engine-again", datadir="engine")
    else:
        rt.start_engine("engine-elsewhere")
    histories = wait_all_completed(rt, ids)
    # Exactly once: not even an identical copy of an event on a read_committed reader.
    assert histories.copies() == 0, rt.logs()
    for execution_id in ids:
        completed = [
            e for e in histories.checked(execution_id) if e["event_type"] == "NodeCompleted"
        ]
        assert [e["attributes"]["node_id"] for e in completed][-1] == "d"


def test_two_history_processors_share_partitions_through_rebalances(rt: Runtime) -> None:
    """A second instance joins while executions run, then the first is killed: partitions
    move twice and every execution still completes once."""
    rt.start_timers()
    rt.start_worker()
    rt.start_engine("engine-1")
    rt.ready()
    wf = unique_id("rebalance")
    rt.register(fan_out(wf))

    ids = start_many(rt, wf)
    rt.start_engine("engine-2")
    # engine-2 takes a share while engine-1's executions are under way.
    wait_until(
        lambda: assigned(rt, "engine-2") not in (None, []),
        STARTUP,
        "engine-2 to be assigned partitions",
    )
    ids += start_many(rt, wf)
    wait_all_completed(rt, ids)
    share = assigned(rt, "engine-2")
    assert share and len(share) < rt.topics.partitions, rt.logs()

    rt.processes["engine-1"].kill()
    wait_until(
        lambda: assigned(rt, "engine-2") == list(range(rt.topics.partitions)),
        STARTUP,
        "engine-2 to take over every partition",
    )
    ids_after = start_many(rt, wf)
    wait_all_completed(rt, ids + ids_after)


def assigned(rt: Runtime, name: str) -> list[int] | None:
    """The input partitions of the last assignment `name` logged, if any."""
    lines = [
        line
        for line in rt.processes[name].log_text().splitlines()
        if "input partitions assigned to this instance:" in line
    ]
    if not lines:
        return None
    listed = lines[-1].rsplit(":", 1)[1].strip().strip("[]")
    return [int(p) for p in listed.split(",") if p.strip()]


def test_timers_processor_sigkill_with_waits_pending(rt: Runtime) -> None:
    rt.start_engine()
    rt.start_worker()
    timers = rt.start_timers()
    rt.ready()
    wf = unique_id("waits")
    rt.register(linear(wf, ["wait", "echo"], s1={"duration": "3s"}, s2={"value": "done"}))
    ids = start_many(rt, wf)
    for execution_id in ids:
        rt.wait_for_event(execution_id, "TimerStarted")
    timers.kill()
    rt.start_timers("timers-again", datadir="timers")
    histories = wait_all_completed(rt, ids)
    for execution_id in ids:
        events = histories.checked(execution_id)
        fired = [e for e in events if e["event_type"] == "TimerFired"]
        assert len(fired) == 1, execution_id
        started = next(e for e in events if e["event_type"] == "TimerStarted")
        # Durable: the timer fired no earlier than it was due, crash or not.
        assert fired[0]["timestamp_ms"] >= started["attributes"]["fire_at_ms"]


def test_worker_sigkill_mid_activities_then_another_worker_finishes(rt: Runtime) -> None:
    rt.start_engine()
    rt.start_timers()
    worker = rt.start_worker("worker-1")
    rt.ready()
    wf = unique_id("slow")
    rt.register(linear(wf, ["sleep", "echo"], s1={"duration": "1s"}, s2={"value": "after"}))
    ids = start_many(rt, wf)
    rt.wait_for_event(ids[0], "ActivityTaskStarted")
    worker.kill()
    rt.start_worker("worker-2")
    histories = wait_all_completed(rt, ids)
    finished_by = {
        e["attributes"]["identity"]
        for execution_id in ids
        for e in histories.checked(execution_id)
        if e["event_type"] == "ActivityTaskStarted"
    }
    assert "worker-2" in finished_by


def test_activity_timeout_then_the_retry_runs_on_another_worker(rt: Runtime) -> None:
    """Worker 1 freezes (SIGSTOP) holding the task: start-to-close expires, the retry is
    scheduled, and worker 2 gets the partition once worker 1's session lapses."""
    rt.start_engine()
    rt.start_timers()
    worker_1 = rt.start_worker("worker-1")
    rt.ready()
    wf = unique_id("timeout")
    rt.register(
        {
            "id": wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {
                    "id": "slow",
                    "type": "sleep",
                    # Long enough to freeze worker 1 inside it, short enough for the
                    # retry to finish within the timeout.
                    "config": {"duration": "2500ms"},
                    "timeout": {"start_to_close": "4s"},
                    "retry": {"max_attempts": 3, "initial_interval": "100ms"},
                },
            ],
            "edges": [{"source": "start", "target": "slow"}],
        }
    )
    execution_id = rt.client.start(wf, {})
    rt.client.flush()
    rt.wait_for_event(execution_id, "ActivityTaskStarted")
    assert worker_1.proc is not None
    worker_1.proc.send_signal(signal.SIGSTOP)
    try:
        rt.start_worker("worker-2")
        outcome = rt.wait(execution_id, timeout=OUTCOME_TIMEOUT)
    finally:
        worker_1.proc.send_signal(signal.SIGCONT)
    assert outcome.status == "completed", outcome
    events = read_histories(rt).checked(execution_id)
    timed_out = [e for e in events if e["event_type"] == "ActivityTaskTimedOut"]
    assert timed_out and timed_out[0]["attributes"]["attempt"] == 1
    assert timed_out[0]["attributes"]["timeout_type"] == "start_to_close"
    completed = [e for e in events if e["event_type"] == "ActivityTaskCompleted"]
    assert len(completed) == 1 and completed[0]["attributes"]["attempt"] >= 2
    started = {
        e["attributes"]["attempt"]: e["attributes"]["identity"]
        for e in events
        if e["event_type"] == "ActivityTaskStarted"
    }
    assert started[1] == "worker-1"
    assert started[completed[0]["attributes"]["attempt"]] == "worker-2"
