"""The supervised runtime in the background: `linkflow up` starts `linkflow up --foreground`
as a detached process and waits until every process runs; `linkflow ps` reads what it
supervises; `linkflow down` (and `linkflow dev down`) stop it.

The supervisor's pid and its processes are in `<state>/run/supervisor.json`
(`linkflow.dev.supervisor`); its own output goes to `<state>/logs/supervisor.log`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linkflow import settings
from linkflow.dev.procs import alive_as, tail, terminate, wait_until
from linkflow.dev.supervisor import STATUS_FILE

MARKER = "linkflow.cli.main up --foreground"


@dataclass(frozen=True)
class Supervised:
    """What a running supervisor supervises, as `supervisor.json` says."""

    pid: int
    processes: list[dict[str, Any]]

    def process(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.processes if p["name"] == name), None)


def status(state: Path | None = None) -> Supervised | None:
    """The running supervisor's status, or None when none runs (a stale file is ignored)."""
    path = (state or settings.state_dir()) / "run" / STATUS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = data.get("pid")
    if not isinstance(pid, int) or not alive_as(pid, MARKER):
        return None
    return Supervised(pid, list(data.get("processes") or []))


def log_path(state: Path | None = None) -> Path:
    return (state or settings.state_dir()) / "logs" / "supervisor.log"


class StartFailed(RuntimeError):
    pass


def start(
    up_args: Sequence[str], expected: Sequence[str], state: Path | None = None, timeout: float = 60
) -> Supervised:
    """Start `linkflow up --foreground <up_args>` detached and wait until the `expected`
    processes all run; raises StartFailed (with the end of its log) if it exits or they do
    not come up within `timeout` seconds."""
    state = state or settings.state_dir()
    log = log_path(state)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "linkflow.cli.main", "up", "--foreground", *up_args],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # outlives this command and its terminal
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartFailed(f"the supervisor exited with status {proc.returncode}:\n{tail(log)}")
        current = status(state)
        if current is not None and all(
            (p := current.process(name)) is not None and p["pid"] is not None for name in expected
        ):
            return current
        time.sleep(0.2)
    raise StartFailed(f"the runtime did not start within {timeout:g} s:\n{tail(log)}")


def stop(state: Path | None = None, timeout: float = 60) -> bool:
    """Stop the running supervisor and what it runs; False if none was running."""
    current = status(state)
    if current is None:
        return False
    terminate(current.pid, MARKER, timeout)
    wait_until(lambda: status(state) is None, 5)
    return True
