"""Desired topic specs and the observed state of a cluster, as plain values.

The planner compares these two; keeping them free of Kafka client types lets it stay pure
and lets unit tests build any cluster state by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

MIN_INSYNC_REPLICAS = "min.insync.replicas"
CLEANUP_POLICY = "cleanup.policy"


@dataclass(frozen=True)
class TopicSpec:
    """One topic as LinkFlow wants it, fully resolved (profile and overrides applied)."""

    name: str
    partitions: int
    replication_factor: int
    # Only the keys the spec sets; values as the broker reports them (strings).
    config: Mapping[str, str] = field(default_factory=dict)
    # Topics sharing a group must keep equal partition counts (same key, same partition).
    copartition_group: str | None = None
    # Where the spec came from, for messages ("topics/tasks.yaml: topics[0]").
    origin: str = ""

    @property
    def compacted(self) -> bool:
        return "compact" in config_value_set(self.config.get(CLEANUP_POLICY, ""))

    @property
    def key_stable(self) -> bool:
        """True when consumers rely on a key always landing on the same partition.

        Adding partitions changes `hash(key) % partitions`, so new records of an existing key
        go elsewhere: co-partitioned topics would hand one execution to two processors, and a
        compacted topic would keep two live values for one key.
        """
        return self.copartition_group is not None or self.compacted


@dataclass(frozen=True)
class ObservedTopic:
    name: str
    partitions: int
    replication_factor: int
    # Every config the broker reports for the topic, defaults included.
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterState:
    brokers: int
    topics: Mapping[str, ObservedTopic] = field(default_factory=dict)


def config_value_set(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


# Kafka reports list-valued configs in its own order; compare them as sets.
_LIST_CONFIGS = frozenset({CLEANUP_POLICY})


def config_equal(key: str, desired: str, observed: str | None) -> bool:
    if observed is None:
        return False
    if key in _LIST_CONFIGS:
        return config_value_set(desired) == config_value_set(observed)
    return desired == observed
