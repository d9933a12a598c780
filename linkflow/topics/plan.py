"""The plan `topics apply` prints and executes: actions, and refusals that block them."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from linkflow.topics.model import TopicSpec


@dataclass(frozen=True)
class CreateTopic:
    spec: TopicSpec

    @property
    def topic(self) -> str:
        return self.spec.name

    def describe(self) -> str:
        settings = [
            f"partitions={self.spec.partitions}",
            f"replication_factor={self.spec.replication_factor}",
            *(f"{key}={value}" for key, value in sorted(self.spec.config.items())),
        ]
        return f"+ create {self.spec.name} " + " ".join(settings)


@dataclass(frozen=True)
class AddPartitions:
    topic: str
    current: int
    desired: int

    def describe(self) -> str:
        return f"~ partitions {self.topic} {self.current} -> {self.desired}"


@dataclass(frozen=True)
class ConfigChange:
    key: str
    current: str | None  # None: the broker does not report the key at all
    desired: str


@dataclass(frozen=True)
class AlterConfigs:
    topic: str
    changes: tuple[ConfigChange, ...]

    def describe(self) -> str:
        return "\n".join(
            f"~ alter {self.topic} {change.key} "
            f"{'(unset)' if change.current is None else change.current} -> {change.desired}"
            for change in self.changes
        )


Action = CreateTopic | AddPartitions | AlterConfigs


class RefusalKind(enum.Enum):
    PARTITION_DECREASE = "partition-decrease"
    REPLICATION_FACTOR_CHANGE = "replication-factor-change"
    COPARTITIONING = "copartitioning"
    KEYED_REPARTITION = "keyed-repartition"
    NOT_ENOUGH_BROKERS = "not-enough-brokers"


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    subject: str  # a topic name or "co-partition group 'execution'"
    reason: str

    def describe(self) -> str:
        return f"! refuse {self.subject}: {self.reason}"


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    # Every topic the plan was made for, so callers can report what already matches.
    topics: tuple[str, ...] = field(default=())

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    @property
    def empty(self) -> bool:
        """Nothing to change and nothing refused: the cluster already matches the specs."""
        return not self.actions and not self.refusals

    def lines(self) -> list[str]:
        if self.empty:
            return ["no changes"]
        lines = [line for action in self.actions for line in action.describe().splitlines()]
        lines.extend(refusal.describe() for refusal in self.refusals)
        return lines

    def render(self) -> str:
        return "\n".join(self.lines())


def count_changes(actions: Sequence[Action]) -> int:
    return sum(len(a.changes) if isinstance(a, AlterConfigs) else 1 for a in actions)
