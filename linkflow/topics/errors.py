"""Errors of `linkflow.topics`, each carrying a message meant for the operator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from linkflow.topics.plan import Plan


class SpecError(ValueError):
    """The specs are invalid; each problem names the file (or setting) and the field."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class TopicsApplyError(RuntimeError):
    """Kafka could not be read or did not carry out the plan."""


class PlanRefused(RuntimeError):
    """The plan holds unsafe changes, so nothing was applied."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        reasons = "\n".join(refusal.describe() for refusal in plan.refusals)
        super().__init__(f"refusing to apply the topic plan; nothing was changed:\n{reasons}")
