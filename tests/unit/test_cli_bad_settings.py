"""A limit setting out of range stops any `linkflow` command with one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("raw", "said"),
    [("lots", "is not a whole number of bytes"), ("10", "is out of range: 1024 to")],
)
def test_one_line_not_a_traceback(raw: str, said: str) -> None:
    # LINKFLOW_MAX_PAYLOAD_BYTES is read when linkflow.transport is imported, before any
    # command runs: a fresh interpreter shows what a user sees.
    done = subprocess.run(
        [sys.executable, "-m", "linkflow.cli.main", "--help"],
        env={**os.environ, "LINKFLOW_MAX_PAYLOAD_BYTES": raw},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("linkflow: LINKFLOW_MAX_PAYLOAD_BYTES=")
    assert said in lines[0]
