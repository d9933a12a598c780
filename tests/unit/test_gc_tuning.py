"""The long-running commands collect garbage less often (linkflow/gc_tuning.py); one-shot
commands keep the interpreter's defaults."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from linkflow.cli.main import build_parser
from linkflow.gc_tuning import THRESHOLDS, tune_for_service


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.parametrize(
    "argv",
    [
        ["engine", "run"],
        ["timers", "run"],
        ["worker", "--queue", "default"],
        ["sink", "run"],
        ["api", "serve"],
    ],
)
def test_a_service_command_is_marked_long_running(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).long_running is True


@pytest.mark.parametrize("argv", [["workflows", "list"], ["topics", "apply"], ["dev", "up"]])
def test_a_one_shot_command_is_not(argv: list[str]) -> None:
    assert getattr(build_parser().parse_args(argv), "long_running", False) is False


def test_tuning_raises_the_collection_thresholds(restore_gc: None) -> None:
    gc.set_threshold(700, 10, 10)
    tune_for_service()
    assert gc.get_threshold() == THRESHOLDS
