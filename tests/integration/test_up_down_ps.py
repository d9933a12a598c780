"""`linkflow up | ps | down` as a user runs them: the runtime starts in the background,
supervised; a workflow runs; a process killed by its pid is back within seconds; `down`
stops everything it started and `up` brings it all back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_runtime_support import free_port, linear, unique_id
from test_timers_support import wait_until

from linkflow.client import Client
from linkflow.dev.procs import alive_as

# The bar is 5 s; the backoff is 1 s and the supervisor looks every 0.5 s. The
# deadline leaves room for a loaded CI machine; the time measured is printed.
RESTART_DEADLINE = 15.0


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linkflow.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _ps(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    answer = _cli(env, "ps", "--json")
    assert answer.returncode == 0, answer.stderr
    return {p["name"]: p for p in json.loads(answer.stdout)["processes"]}


@pytest.fixture
def env(kafka_bootstrap: str, database_url: str, tmp_path: Path) -> Any:
    """The external-services mode on the session's stack, with a state directory of its
    own (pid files, logs, processor state) and a free API port."""
    env = {
        **os.environ,
        "LINKFLOW_HOME": str(tmp_path / "state"),
        "LINKFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LINKFLOW_DATABASE_URL": database_url,
        "LINKFLOW_API_PORT": str(free_port()),
    }
    yield env
    _cli(env, "down")


def test_up_ps_kill_down_up(env: dict[str, str], kafka_bootstrap: str) -> None:
    started = _cli(env, "up", "--workers", "default=2")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "worker-default-2" in started.stdout and "supervisor pid" in started.stdout
    processes = _ps(env)
    assert set(processes) == {
        "engine",
        "timers",
        "worker-default",
        "worker-default-2",
        "worker-http",
        "sink",
        "api",
    }
    assert all(p["pid"] and p["restarts"] == 0 for p in processes.values())
    assert processes["engine"]["consumer_group"] == "linkflow-history"
    assert processes["api"]["consumer_group"] is None

    with Client(kafka_bootstrap) as client:
        wf = unique_id("up-flow")
        client.register(linear(wf, ["noop", "noop"]))
        assert client.wait(client.start(wf, {}), timeout=120).status == "completed"

        victim = processes["engine"]["pid"]
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(
            lambda: _ps(env)["engine"]["pid"] not in (None, victim),
            RESTART_DEADLINE,
            "the engine to be started again",
        )
        print(f"\nengine back {time.monotonic() - killed_at:.1f} s after SIGKILL")
        engine = _ps(env)["engine"]
        assert engine["restarts"] == 1 and engine["last_exits"] == [-signal.SIGKILL]
        assert client.wait(client.start(wf, {}), timeout=120).status == "completed"
        print(f"a new execution completed {time.monotonic() - killed_at:.1f} s after SIGKILL")

        again = _cli(env, "up")  # a second `up` changes nothing
        assert again.returncode == 0 and "already running" in again.stdout

        pids = [p["pid"] for p in _ps(env).values()]
        supervisor = json.loads(_cli(env, "ps", "--json").stdout)["supervisor_pid"]
        down = _cli(env, "down")
        assert down.returncode == 0 and "stopped the runtime" in down.stdout, down.stdout
        assert not any(alive_as(pid, "linkflow") for pid in [*pids, supervisor])
        gone = _cli(env, "ps")
        assert gone.returncode == 1 and "not running" in gone.stderr

        back = _cli(env, "up")
        assert back.returncode == 0, back.stdout + back.stderr
        assert client.wait(client.start(wf, {}), timeout=120).status == "completed"
    table = _cli(env, "ps")
    assert table.returncode == 0 and "LAG" in table.stdout, table.stdout
    # `dev down` stops the supervisor first (else it would restart what is stopped under
    # it); with external Kafka and PostgreSQL that is all it stops.
    supervisor = json.loads(_cli(env, "ps", "--json").stdout)["supervisor_pid"]
    assert _cli(env, "dev", "down").returncode == 0
    assert not alive_as(supervisor, "linkflow") and _cli(env, "ps").returncode == 1
