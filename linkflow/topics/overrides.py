"""Operator overrides of the specs: replication for a real cluster, the partition count of the
keyed topics, extra task queues, and a name prefix (tests use it to get topics of their own
on a shared broker)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from linkflow.topics.errors import SpecError

ENV_PROFILE = "LINKFLOW_TOPIC_PROFILE"
ENV_REPLICATION_FACTOR = "LINKFLOW_TOPIC_REPLICATION_FACTOR"
ENV_MIN_INSYNC_REPLICAS = "LINKFLOW_TOPIC_MIN_INSYNC_REPLICAS"
ENV_TASK_QUEUES = "LINKFLOW_TASK_QUEUES"
ENV_PARTITIONS = "LINKFLOW_TOPIC_PARTITIONS"

_LEGAL = re.compile(r"[a-zA-Z0-9._-]*")


@dataclass(frozen=True)
class Overrides:
    profile: str | None = None
    replication_factor: int | None = None
    min_insync_replicas: int | None = None
    task_queues: tuple[str, ...] = ()
    prefix: str = ""
    # Of the keyed topics only (a copartition group's and the task queues'): their count
    # caps the instances of a processor or a queue's workers, and sizes what each Kafka
    # transaction touches (docs/performance.md, Sizing partitions).
    partitions: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Overrides:
        """Overrides named by the environment, so the demo and scripts pick up a real
        cluster's replication without extra flags. Malformed numbers raise SpecError."""
        return cls(
            profile=environ.get(ENV_PROFILE) or None,
            replication_factor=_env_int(environ, ENV_REPLICATION_FACTOR),
            min_insync_replicas=_env_int(environ, ENV_MIN_INSYNC_REPLICAS),
            partitions=_env_int(environ, ENV_PARTITIONS),
            task_queues=tuple(
                q.strip() for q in environ.get(ENV_TASK_QUEUES, "").split(",") if q.strip()
            ),
        )

    def over(self, base: Overrides) -> Overrides:
        """These overrides where set, `base` elsewhere; task queues from both."""
        merged = replace(base)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "task_queues":
                value = tuple(dict.fromkeys([*base.task_queues, *value]))
            elif value is None or value == "":
                continue
            merged = replace(merged, **{f.name: value})
        return merged

    def validate(self, problems: list[str]) -> None:
        for name, value in (
            ("replication factor", self.replication_factor),
            ("min.insync.replicas", self.min_insync_replicas),
            ("partitions", self.partitions),
        ):
            if value is not None and value < 1:
                problems.append(f"override {name}: must be at least 1, got {value}")
        for queue in self.task_queues:
            if not queue or not _LEGAL.fullmatch(queue):
                problems.append(
                    f"task queue {queue!r}: not a legal queue name (letters, digits, '.', '_', '-')"
                )
        if not _LEGAL.fullmatch(self.prefix):
            problems.append(
                f"topic prefix {self.prefix!r}: only letters, digits, '.', '_' and '-' are legal"
            )


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise SpecError([f"environment {name}={raw!r}: expected an integer"]) from None
