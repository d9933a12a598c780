"""Deciders by input type. A decider reads the state, emits events through the context (each
applied at once) and returns None, or returns why the input produced no events (a duplicate,
a late result, ...), or a `Refusal` when the input is a producer's mistake that must not
pass unnoticed (it is dead-lettered)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from linkflow.engine.context import DecisionContext
from linkflow.engine.inputs import EngineInput


@dataclass(frozen=True, slots=True)
class Refusal:
    """An input refused rather than ignored: not a retry of something already done but a
    conflicting request (a start under an id that another start already took). It changes
    nothing, and the processor dead-letters it with `reason` and `detail`."""

    reason: str
    detail: str


I = TypeVar("I", bound=EngineInput)  # noqa: E741
Outcome = str | Refusal | None  # why nothing happened, if nothing did
Decider = Callable[[DecisionContext, Any], Outcome]

DECIDERS: dict[type[EngineInput], Decider] = {}


def decides(cls: type[I]) -> Callable[[Callable[[DecisionContext, I], Outcome]], Decider]:
    def register(fn: Callable[[DecisionContext, I], Outcome]) -> Decider:
        if cls in DECIDERS:
            raise ValueError(f"two deciders for {cls.__name__}")
        DECIDERS[cls] = fn
        return fn

    return register
