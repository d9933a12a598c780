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

import pytest
from checker import loader, verified
from test_runtime_crash import fan_out, wait_killed
from test_runtime_support import OUTCOME_TIMEOUT, SESSION_TIMEOUT, Runtime, unique_id
from test_timers_support import wait_until

EXECUTIONS = int(os.environ.get("LINKFLOW_CHAOS_EXECUTIONS", "100"))  # after the kills
KILLS = int(os.environ.get("LINKFLOW_CHAOS_KILLS", "3"))
LOAD_STEP, LOAD_PAUSE = 4, 0.1  # ~40 starts/s while a victim lives


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
    load = loader(rt, wf, ids)

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


def test_a_processor_frozen_inside_a_transaction_is_fenced_when_it_wakes(rt: Runtime) -> None:
    """engine-1 freezes itself (SIGSTOP) with a batch's records produced and its transaction
    open, and stays frozen past its session timeout and its transaction timeout: the others
    take its partitions and restore them from the changelog, the broker aborts its
    transaction. On SIGCONT it tries to commit: it must be refused (fenced), start over
    with a new producer, rejoin the group, and nothing it did may be seen twice."""
    rt.start_timers()
    rt.start_worker("worker-1")
    frozen = rt.start_engine(
        "engine-1",
        "--session-timeout",
        SESSION_TIMEOUT,
        "--transaction-timeout",
        "3",
        env={"LINKFLOW_CRASH_AT": "history.after_produce:5", "LINKFLOW_CRASH_SIGNAL": "SIGSTOP"},
    )
    for name in ("engine-2", "engine-3"):
        rt.start_engine(name, "--session-timeout", SESSION_TIMEOUT)
    rt.ready()
    wf = unique_id("zombie")
    rt.register(fan_out(wf))

    ids: list[str] = []
    load = loader(rt, wf, ids)

    assert frozen.proc is not None
    deadline = time.monotonic() + OUTCOME_TIMEOUT
    while not _stopped(frozen.proc.pid):
        assert time.monotonic() < deadline, f"engine-1 never froze\n{rt.logs()}"
        load(LOAD_STEP)
        time.sleep(LOAD_PAUSE)  # paces the load generator; not a wait for a condition
    try:
        # The load goes on while it is frozen; the group notices after the session timeout.
        until = time.monotonic() + float(SESSION_TIMEOUT) * 3
        while time.monotonic() < until:
            load(LOAD_STEP)
            time.sleep(LOAD_PAUSE)
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    load(EXECUTIONS)
    for execution_id in ids:
        rt.wait(execution_id, timeout=OUTCOME_TIMEOUT)
    report = verified(rt.topics.bootstrap, rt.prefix, ids, "frozen inside a transaction")
    assert report.ok, report.table() + "\n" + rt.logs()

    def rejoined() -> bool:
        rt.check_alive()  # fenced must not mean dead
        return "input partitions assigned" in frozen.log_text().split("crash point")[-1]

    try:
        wait_until(rejoined, OUTCOME_TIMEOUT, "the woken instance to rejoin the group")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{rt.logs()}") from None
    woke = frozen.log_text().split("crash point")[-1]
    assert "fenced" in woke or "aborting the batch's transaction" in woke, woke


def _stopped(pid: int) -> bool:
    """Whether the process is stopped (state T in /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"
