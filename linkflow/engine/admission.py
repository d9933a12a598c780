"""Admission: whether a new execution may start now. The engine asks; the processor answers
(workspace quotas need counts across partitions and a clock, which the engine has not)."""

from __future__ import annotations

from typing import Protocol

from linkflow.engine.events import Error


class Admission(Protocol):
    def admit(self, workspace: str, workflow_id: str) -> Error | None:
        """None to start an execution of `workflow_id` in `workspace`, or the error that
        refuses it (type QuotaExceeded), which the execution fails with at once."""
        ...
