"""Deciders by input type. A decider reads the state, emits events through the context (each
applied at once) and returns None, or returns why the input produced no events (a duplicate,
a late result, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from linkflow.engine.context import DecisionContext
from linkflow.engine.inputs import EngineInput

I = TypeVar("I", bound=EngineInput)  # noqa: E741
Decider = Callable[[DecisionContext, Any], str | None]

DECIDERS: dict[type[EngineInput], Decider] = {}


def decides(cls: type[I]) -> Callable[[Callable[[DecisionContext, I], str | None]], Decider]:
    def register(fn: Callable[[DecisionContext, I], str | None]) -> Decider:
        if cls in DECIDERS:
            raise ValueError(f"two deciders for {cls.__name__}")
        DECIDERS[cls] = fn
        return fn

    return register
