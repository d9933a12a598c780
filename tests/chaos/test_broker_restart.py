"""SIGKILL of the Kafka broker under load, then a restart: the runtime processes (history
and timers processors, a worker, the sink) are left running and must reconnect by
themselves; afterwards every execution ends exactly once and PostgreSQL equals history.

The broker is the session's own: `dev.up()` brings the same one back, data intact, before
the scenario ends, so the tests after it find it as before (with a cold JVM).
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from checker import loader, verified
from test_runtime_kills import waits_and_branches
from test_runtime_support import OUTCOME_TIMEOUT, Runtime, unique_id
from test_timers_support import wait_until

from linkflow import dev, settings
from linkflow.dev.procs import read_pid

OUTAGE_SECONDS = 5.0


@pytest.mark.skipif(settings.external_services(), reason="kills the local stack's broker")
def test_broker_killed_and_restarted_while_the_runtime_runs(rt: Runtime, database_url: str) -> None:
    rt.start_with_sink(database_url)
    wf = unique_id("chaos-broker")
    rt.register(waits_and_branches(wf))
    ids: list[str] = []
    load = loader(rt, wf, ids)
    load(60)

    pid = read_pid(settings.state_dir() / "kafka" / "broker.pid")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(pid), 30, "the broker to die")
    time.sleep(OUTAGE_SECONDS)  # the outage itself: the runtime must ride it out
    rt.check_alive()
    dev.up()  # the same broker, its data intact, back on its port

    load(60)
    for execution_id in ids:
        rt.wait(execution_id, timeout=OUTCOME_TIMEOUT)
    rt.check_alive()  # nobody exited: every process reconnected by itself
    report = verified(rt.topics.bootstrap, rt.prefix, ids, "broker killed", database_url)
    assert report.ok, report.table() + "\n" + rt.logs()
    assert report.mismatched_rows == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"
