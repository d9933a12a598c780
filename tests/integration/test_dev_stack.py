"""`linkflow dev` on a stack of its own: cold start, idempotence, repair, clear errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from linkflow import dev, settings
from linkflow.dev.procs import alive_as, read_pid, wait_until

KAFKA_PORT = 29092
POSTGRES_PORT = 25432


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A second stack under a fresh state directory, sharing only the jar cache.

    pytest's temp dir is private (mode 700), which the unprivileged database user cannot
    enter: this also covers the cluster being placed elsewhere and linked.
    """
    state = tmp_path_factory.mktemp("stack") / ".linkflow"
    names = (
        "LINKFLOW_CACHE",
        settings.ENV_HOME,
        "LINKFLOW_KAFKA_PORT",
        "LINKFLOW_KAFKA_CONTROLLER_PORT",
        "LINKFLOW_POSTGRES_PORT",
    )
    saved = {k: os.environ.get(k) for k in names}
    os.environ["LINKFLOW_CACHE"] = str(settings.state_dir() / "cache")
    os.environ[settings.ENV_HOME] = str(state)
    for name in names[2:]:  # the ports come from the command line or the recorded stack
        os.environ.pop(name, None)
    try:
        yield state
    finally:
        dev.down(state)
        pg_home = state / "postgres"
        if pg_home.is_symlink():
            shutil.rmtree(pg_home.resolve().parent, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linkflow.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_cold_start_then_up_again_is_a_no_op(own_stack: Path) -> None:
    first = _cli(
        "dev", "up", "--kafka-port", str(KAFKA_PORT), "--postgres-port", str(POSTGRES_PORT)
    )
    assert first.returncode == 0, first.stderr
    assert "Started kafka, postgres" in first.stdout
    assert (own_stack / "kafka" / "data" / "meta.properties").exists()  # storage formatted

    second = _cli("dev", "up")
    assert second.returncode == 0, second.stderr
    assert "already running; nothing to do" in second.stdout

    report = _cli("dev", "status", "--json")
    assert report.returncode == 0, report.stderr
    info = json.loads(report.stdout)
    assert info["bootstrap_servers"] == f"127.0.0.1:{KAFKA_PORT}"
    assert info["database_url"].endswith(f"@127.0.0.1:{POSTGRES_PORT}/linkflow")
    with psycopg.connect(info["database_url"]) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "linkflow",
            "linkflow",
        )


def test_killed_broker_and_stale_pid_are_repaired(own_stack: Path) -> None:
    dev.up(own_stack)
    pid_file = own_stack / "kafka" / "broker.pid"
    pid = read_pid(pid_file)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not alive_as(pid, "kafka.Kafka"), 30)

    result = dev.up(own_stack)
    assert result.started == ["kafka"]
    new_pid = read_pid(pid_file)
    assert new_pid is not None and new_pid != pid and alive_as(new_pid, "kafka.Kafka")

    # A pid file naming some unrelated live process must not be mistaken for the broker.
    dev.down(own_stack)
    pid_file.write_text(f"{os.getpid()}\n")
    assert dev.up(own_stack).started == ["kafka", "postgres"]
    assert read_pid(pid_file) != os.getpid()


def test_port_taken_gives_an_error_naming_the_port(own_stack: Path) -> None:
    dev.down(own_stack)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", KAFKA_PORT))
        blocker.listen()
        result = _cli("dev", "up")
    assert result.returncode == 1
    assert f"port {KAFKA_PORT} is already in use" in result.stderr


def test_down_leaves_no_process_running(own_stack: Path) -> None:
    dev.up(own_stack)
    broker_pid = read_pid(own_stack / "kafka" / "broker.pid")
    pg_pid = read_pid(own_stack / "postgres" / "data" / "postmaster.pid")
    assert broker_pid and pg_pid

    result = _cli("dev", "down")
    assert result.returncode == 0, result.stderr
    assert "Stopped postgres, kafka" in result.stdout
    assert not alive_as(broker_pid, "kafka.Kafka")
    assert not alive_as(pg_pid, "postgres")
    assert _cli("dev", "status", "--json").returncode == 3
