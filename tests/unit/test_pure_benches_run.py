"""The benchmarks of pure code run and print their figures (the engine bench once broke
unnoticed when node types moved to their declarations). Their figures are not checked:
speed targets live in the benchmarks, not in tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("engine_bench.py", ["--executions", "40", "--repeat", "1"], ["linear-3", "fanout-50"]),
        ("codec_bench.py", ["--seconds", "0.05"], ["encode_history", "decode_history"]),
        ("expr_bench.py", ["--seconds", "0.05"], ["/s"]),
        ("history_bench.py", ["--executions", "30", "--batch", "7"], ["us per execution"]),
    ],
)
def test_a_pure_benchmark_runs_and_prints_its_figures(
    script: str, args: list[str], expected: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=BENCH.parents[1],
    )
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout
