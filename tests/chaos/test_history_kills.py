"""SIGKILL of a history processor at each point of a batch's transaction, again and again,
while two other instances share the partitions and a load of executions runs: the group
rebalances on every kill and every restart.

The checker reads history as every LinkFlow reader does (read_committed) and must find
every execution ended exactly once, no (execution id, event id) twice, no gap in event ids,
and no activity result applied twice.

    .venv/bin/pytest tests/chaos -k history                  # once per point (CI)
    tests/chaos/repeat.sh 20 -k history                      # the 20-run loop
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from checker import verified
from test_runtime_crash import assigned, fan_out, wait_killed
from test_runtime_support import OUTCOME_TIMEOUT, Runtime, runtime, unique_id
from test_timers_support import wait_until

EXECUTIONS = int(os.environ.get("LINKFLOW_CHAOS_EXECUTIONS", "100"))  # after the kills
KILLS = int(os.environ.get("LINKFLOW_CHAOS_KILLS", "3"))
LOAD_STEP, LOAD_PAUSE = 4, 0.1  # ~40 starts/s while a victim lives
# The broker's smallest allowed session timeout: a killed member leaves the group soonest.
SESSION_TIMEOUT = "6"


@pytest.fixture
def rt(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Runtime]:
    with runtime(kafka_bootstrap, tmp_path, "chaos", start=False) as rt:
        yield rt


@pytest.mark.parametrize(
    "point",
    ["history.before_begin", "history.after_produce", "history.in_commit"],
)
def test_history_processor_killed_repeatedly_among_three(rt: Runtime, point: str) -> None:
    rt.start_timers()
    rt.start_worker("worker-1")
    rt.start_worker("worker-2")
    engine = lambda name, **kw: rt.start_engine(  # noqa: E731
        name, "--session-timeout", SESSION_TIMEOUT, **kw
    )
    engine("engine-2")
    engine("engine-3")
    rt.ready()
    wf = unique_id("chaos")
    rt.register(fan_out(wf))

    ids: list[str] = []

    def load(count: int) -> None:
        ids.extend(rt.client.start(wf, {"n": len(ids) + i}) for i in range(count))
        rt.client.flush()

    for _ in range(KILLS):
        # Killed on an early batch of this life, while executions of every phase are in
        # flight: the load goes on until the victim is dead.
        hit = random.randint(2, 8)
        victim = engine("engine-1", datadir="engine-1", env={"LINKFLOW_CRASH_AT": f"{point}:{hit}"})
        deadline = time.monotonic() + OUTCOME_TIMEOUT
        while victim.alive():
            assert time.monotonic() < deadline, f"engine-1 never reached {point}\n{rt.logs()}"
            load(LOAD_STEP)
            time.sleep(LOAD_PAUSE)  # paces the load generator; not a wait for a condition
        wait_killed(victim, rt)
    engine("engine-1", datadir="engine-1")
    load(EXECUTIONS)

    for execution_id in ids:
        rt.wait(execution_id, timeout=OUTCOME_TIMEOUT)
    report = verified(rt.topics.bootstrap, rt.prefix, ids, f"{point}, {KILLS} kills")
    assert report.ok, report.table() + "\n" + rt.logs()
    assert len(report.terminal & set(ids)) == len(ids)


def test_a_frozen_history_processor_is_fenced_when_it_wakes(rt: Runtime) -> None:
    """SIGSTOP past the session timeout: the others take its partitions and its state from
    the changelog; on SIGCONT it still holds decided batches it may try to commit. It must
    not write anything a read_committed reader sees twice."""
    rt.start_timers()
    rt.start_worker("worker-1")
    engine = lambda name: rt.start_engine(name, "--session-timeout", SESSION_TIMEOUT)  # noqa: E731
    frozen = engine("engine-1")
    engine("engine-2")
    engine("engine-3")
    rt.ready()
    wf = unique_id("zombie")
    rt.register(fan_out(wf))

    ids: list[str] = []

    def load(count: int) -> None:
        ids.extend(rt.client.start(wf, {"n": len(ids) + i}) for i in range(count))
        rt.client.flush()

    wait_until(
        lambda: assigned(rt, "engine-1") not in (None, []),
        OUTCOME_TIMEOUT,
        "engine-1 to own partitions",
    )
    load(EXECUTIONS)  # frozen while it works through these
    assert frozen.proc is not None
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        # The load goes on while it is frozen; the group notices after the session timeout.
        deadline = time.monotonic() + float(SESSION_TIMEOUT) * 3
        while time.monotonic() < deadline:
            load(LOAD_STEP)
            time.sleep(LOAD_PAUSE)  # paces the load generator
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    load(EXECUTIONS)
    for execution_id in ids:
        rt.wait(execution_id, timeout=OUTCOME_TIMEOUT)
    report = verified(rt.topics.bootstrap, rt.prefix, ids, "SIGSTOP past the session timeout")
    assert report.ok, report.table() + "\n" + rt.logs()
    # It woke up a zombie, lost its partitions and rejoined the group.
    wait_until(
        lambda: "input partitions assigned" in frozen.log_text().split("revoked")[-1],
        OUTCOME_TIMEOUT,
        "the woken instance to rejoin the group",
    )
    assert "input partitions revoked" in frozen.log_text()
