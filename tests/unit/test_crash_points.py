"""processors/faults.py: a crash point fires at its n-th pass, and only then."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = textwrap.dedent(
    """
    import signal
    fired = []
    signal.signal(signal.SIGUSR1, lambda *_: fired.append(1))
    from processors.faults import crash_point
    for _ in range(6):
        crash_point("here")
        crash_point("elsewhere")
    print(len(fired))
    """
)


def run(crash_at: str, crash_signal: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINKFLOW_CRASH_AT": crash_at, "LINKFLOW_CRASH_SIGNAL": crash_signal}
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, cwd=ROOT, env=env
    )


def test_a_crash_point_fires_once_at_its_nth_pass() -> None:
    # SIGUSR1 stands in for SIGSTOP: a frozen process that is woken must not freeze again.
    done = run("here:2", "SIGUSR1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


def test_sigkill_ends_the_process_there() -> None:
    done = run("here:3", "SIGKILL")
    assert done.returncode == -9
    assert done.stdout == ""
