"""The pure planner: desired specs + observed cluster state -> an ordered plan.

No I/O here, so every decision (and every refusal) is unit-tested without a broker.
"""

from __future__ import annotations

from collections.abc import Sequence

from linkflow.topics.model import ClusterState, TopicSpec, config_equal
from linkflow.topics.plan import (
    Action,
    AddPartitions,
    AlterConfigs,
    ConfigChange,
    CreateTopic,
    Plan,
    Refusal,
    RefusalKind,
)


def plan_topics(
    desired: Sequence[TopicSpec], observed: ClusterState, *, allow_repartition: bool = False
) -> Plan:
    """Plan the changes that make `observed` match `desired`.

    `allow_repartition` lets partitions grow on key-stable topics (co-partitioned or
    compacted); the operator asserts that nothing relies on the old key placement (e.g. no
    executions in flight).
    """
    names = [spec.name for spec in desired]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"topic declared more than once: {', '.join(duplicates)}")

    creates: list[Action] = []
    raises: list[Action] = []
    alters: list[Action] = []
    refusals: list[Refusal] = []
    # Partition counts each topic ends with if the plan ran, for the co-partitioning check.
    final_partitions: dict[str, int] = {}

    for spec in desired:
        current = observed.topics.get(spec.name)
        if current is None:
            final_partitions[spec.name] = spec.partitions
            if spec.replication_factor > observed.brokers:
                refusals.append(
                    Refusal(
                        RefusalKind.NOT_ENOUGH_BROKERS,
                        spec.name,
                        f"replication factor {spec.replication_factor} needs at least that many "
                        f"brokers, the cluster has {observed.brokers}; use a lower "
                        "--replication-factor or the dev profile",
                    )
                )
            else:
                creates.append(CreateTopic(spec))
            continue

        final_partitions[spec.name] = current.partitions
        if current.replication_factor != spec.replication_factor:
            refusals.append(
                Refusal(
                    RefusalKind.REPLICATION_FACTOR_CHANGE,
                    spec.name,
                    f"replication factor {current.replication_factor} -> "
                    f"{spec.replication_factor}: changing it on an existing topic needs a "
                    "partition reassignment (kafka-reassign-partitions.sh), which topics apply "
                    "does not do; if this is a real cluster, pass the profile it was created "
                    "with (e.g. --profile production)",
                )
            )

        if spec.partitions < current.partitions:
            refusals.append(
                Refusal(
                    RefusalKind.PARTITION_DECREASE,
                    spec.name,
                    f"partitions {current.partitions} -> {spec.partitions}: Kafka cannot remove "
                    "partitions; recreating the topic would lose its records",
                )
            )
        elif spec.partitions > current.partitions:
            if spec.key_stable and not allow_repartition:
                why = (
                    f"it is co-partitioned (group '{spec.copartition_group}')"
                    if spec.copartition_group
                    else "it is compacted"
                )
                refusals.append(
                    Refusal(
                        RefusalKind.KEYED_REPARTITION,
                        spec.name,
                        f"partitions {current.partitions} -> {spec.partitions}: {why}, and "
                        "more partitions send existing keys to other partitions; drain it "
                        "first and pass --allow-repartition",
                    )
                )
            else:
                raises.append(AddPartitions(spec.name, current.partitions, spec.partitions))
                final_partitions[spec.name] = spec.partitions

        # Only keys the spec sets: the broker reports every default as well.
        changes = tuple(
            ConfigChange(key, current.config.get(key), value)
            for key, value in sorted(spec.config.items())
            if not config_equal(key, value, current.config.get(key))
        )
        if changes:
            alters.append(AlterConfigs(spec.name, changes))

    refusals.extend(_copartition_refusals(desired, final_partitions))
    return Plan(
        actions=(*creates, *raises, *alters),
        refusals=tuple(refusals),
        topics=tuple(names),
    )


def _copartition_refusals(
    desired: Sequence[TopicSpec], final_partitions: dict[str, int]
) -> list[Refusal]:
    groups: dict[str, list[TopicSpec]] = {}
    for spec in desired:
        if spec.copartition_group is not None:
            groups.setdefault(spec.copartition_group, []).append(spec)

    refusals = []
    for group, members in groups.items():
        subject = f"co-partition group '{group}'"
        declared = {spec.name: spec.partitions for spec in members}
        final = {spec.name: final_partitions[spec.name] for spec in members}
        if len(set(declared.values())) > 1:
            refusals.append(
                Refusal(
                    RefusalKind.COPARTITIONING,
                    subject,
                    f"specs declare unequal partition counts ({_counts(declared)}); "
                    "co-partitioned topics must share one count so an execution's records "
                    "share one partition number",
                )
            )
        elif len(set(final.values())) > 1:
            refusals.append(
                Refusal(
                    RefusalKind.COPARTITIONING,
                    subject,
                    f"the topics would end with unequal partition counts ({_counts(final)}); "
                    "co-partitioned topics must share one count so an execution's records "
                    "share one partition number",
                )
            )
    return refusals


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}={count}" for name, count in counts.items())
