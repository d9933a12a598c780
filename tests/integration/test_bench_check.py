"""The benchmarks that need the broker, with a tiny load: the end-to-end one in its CI mode
(`--check`, the whole stack, sink included) and the worker's. Their figures mean nothing
here; what counts is that every execution or task completes and the report is printed, so
the benchmarks cannot rot unnoticed."""

from __future__ import annotations

import subprocess
import sys

from test_timers_support import ROOT


def _bench(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, f"tests/bench/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def test_the_e2e_benchmark_runs_end_to_end_in_check_mode(
    kafka_bootstrap: str, database_url: str
) -> None:
    out = _bench(
        "e2e_bench.py", "--check", "--bootstrap", kafka_bootstrap, "--database-url", database_url
    )
    for line in (
        "== rate: offered 20/s",
        "== saturation: offered as fast as possible",
        "unfinished after timeout: 0",
        "start -> complete in Postgres",
        "CPU seconds during the mode: engine",
    ):
        assert line in out, out


def test_the_worker_benchmark_runs(kafka_bootstrap: str) -> None:
    out = _bench(
        "worker_bench.py", "--tasks", "200", "--timeout", "60", "--bootstrap", kafka_bootstrap
    )
    assert "worker: 200 noop tasks in " in out, out
    assert " us per task" in out, out
