"""Histories as JSON, and folding them through the appliers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from linkflow.engine import ExecutionState, HistoryEvent, fold
from linkflow.model import PlanSource


def fold_history(events: Iterable[HistoryEvent], plans: PlanSource) -> ExecutionState:
    """The state the appliers rebuild from a history (what a processor restores)."""
    state = fold(events, plans)
    if state is None:
        raise ValueError("empty history")
    return state


def history_to_json(events: Iterable[HistoryEvent]) -> list[dict[str, Any]]:
    return [event.to_dict() for event in events]


def history_from_json(data: Iterable[dict[str, Any]]) -> list[HistoryEvent]:
    return [HistoryEvent.from_dict(item) for item in data]


def load_history(path: str | Path) -> list[HistoryEvent]:
    return history_from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def dump_history(events: Iterable[HistoryEvent], path: str | Path) -> None:
    text = json.dumps(history_to_json(events), indent=2, sort_keys=False)
    Path(path).write_text(text + "\n", encoding="utf-8")
