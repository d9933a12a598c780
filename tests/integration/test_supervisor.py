"""`linkflow up`'s supervisor: a process that dies is started again by itself, and stopping
the supervisor stops what it started."""

from __future__ import annotations

import os
import signal
import threading
import urllib.request
from pathlib import Path

import pytest
from test_sink_support import wait_until

from linkflow.dev.procs import port_free
from linkflow.dev.services import Service
from linkflow.dev.supervisor import Supervisor


def _free_port() -> int:
    port = 18400
    while not port_free(port):
        port += 1
    return port


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_a_killed_process_is_started_again_and_stop_ends_it(
    kafka_bootstrap: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINKFLOW_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("LINKFLOW_DATABASE_URL", database_url)
    port = _free_port()
    supervisor = Supervisor(
        [Service("api", ("api", "serve", "--port", str(port)))], state=tmp_path, grace=10
    )
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: _healthy(port), 60, "the API to answer")
        first = supervisor.pid("api")
        assert first is not None
        assert (tmp_path / "run" / "api.pid").read_text().strip() == str(first)
        os.kill(first, signal.SIGKILL)
        wait_until(
            lambda: supervisor.pid("api") not in (None, first) and _healthy(port),
            60,
            "the API to be started again and answer",
        )
        second = supervisor.pid("api")
        assert supervisor.children[0].exits == [-signal.SIGKILL]
        assert supervisor.children[0].restarts == 1
    finally:
        supervisor.stop()
        thread.join(30)
    assert not thread.is_alive()
    assert second is not None
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)
    assert not (tmp_path / "run" / "api.pid").exists()
    assert "api" in (tmp_path / "logs" / "api.log").read_text()
