"""The end-to-end benchmark in its CI mode (`--check`): a tiny load through the whole stack,
sink included. Its figures mean nothing here; what counts is that every execution completes
(in PostgreSQL too) and the report is printed."""

from __future__ import annotations

import subprocess
import sys

from test_timers_support import ROOT


def test_the_e2e_benchmark_runs_end_to_end_in_check_mode(
    kafka_bootstrap: str, database_url: str
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "tests/bench/e2e_bench.py",
            "--check",
            "--bootstrap",
            kafka_bootstrap,
            "--database-url",
            database_url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    for line in (
        "== rate: offered 20/s",
        "== saturation: offered as fast as possible",
        "unfinished after timeout: 0",
        "start -> complete in Postgres",
        "CPU seconds during the mode: engine",
    ):
        assert line in out, out
