"""The only module here that talks to Kafka: observe a cluster, carry out a plan."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from linkflow import transport
from linkflow.topics.errors import TopicsApplyError
from linkflow.topics.model import ClusterState, ObservedTopic
from linkflow.topics.plan import AddPartitions, AlterConfigs, CreateTopic, Plan

# librdkafka logs every failed connection attempt, many per second, to stderr by default.
# Routed here they reach the application's logging when it sets it up, and stay quiet
# otherwise; the error that matters is raised with the operation that failed.
_log = logging.getLogger(__name__)
_log.addHandler(logging.NullHandler())


class Deadline:
    """One time budget shared by every broker call of an apply."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        # librdkafka treats a zero timeout as "return at once"; keep a sliver so a call that
        # starts right at the deadline still gets an answer it already has.
        return max(0.001, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._end


def make_admin(bootstrap: str) -> AdminClient:
    return AdminClient(
        transport.client_config(bootstrap, **{"client.id": "linkflow-topics"}), logger=_log
    )


def kafka_message(exc: BaseException) -> str:
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        return f"{error.name()}: {error.str()}"
    return str(exc) or type(exc).__name__


def observe(
    admin: AdminClient,
    deadline: Deadline,
    *,
    describe_configs_of: Collection[str] = (),
    bootstrap: str = "",
) -> ClusterState:
    """Brokers, every topic's partitions and replication, and the configs of the named topics."""
    try:
        metadata = admin.list_topics(timeout=deadline.remaining())
    except KafkaException as exc:
        where = f" at {bootstrap}" if bootstrap else ""
        raise TopicsApplyError(
            f"cannot read cluster metadata from Kafka{where} within {deadline.seconds:g}s: "
            f"{kafka_message(exc)} (is the broker up? `linkflow dev status`)"
        ) from exc

    shapes: dict[str, tuple[int, int]] = {}
    for name, topic in metadata.topics.items():
        if topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            continue
        replicas = [len(partition.replicas) for partition in topic.partitions.values()]
        shapes[name] = (len(topic.partitions), max(replicas, default=0))

    wanted = [name for name in describe_configs_of if name in shapes]
    configs = _describe_configs(admin, wanted, deadline) if wanted else {}
    topics = {
        name: ObservedTopic(name, partitions, replication, configs.get(name, {}))
        for name, (partitions, replication) in shapes.items()
    }
    return ClusterState(brokers=len(metadata.brokers), topics=topics)


def _describe_configs(
    admin: AdminClient, names: list[str], deadline: Deadline
) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    futures = admin.describe_configs(resources, request_timeout=deadline.remaining())
    results = _wait({res.name: fut for res, fut in futures.items()}, deadline, "describe configs")
    return {
        name: {key: entry.value for key, entry in entries.items() if entry.value is not None}
        for name, entries in results.items()
    }


def _wait(
    futures: Mapping[str, Future[Any]],
    deadline: Deadline,
    what: str,
    tolerate: frozenset[int] = frozenset(),
) -> dict[str, Any]:
    """Every future's result, or one TopicsApplyError naming each topic that failed.

    Errors whose code is in `tolerate` count as success.
    """
    results: dict[str, Any] = {}
    errors: list[str] = []
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=deadline.remaining())
        except TimeoutError:
            errors.append(f"{what} {name}: no answer from Kafka within {deadline.seconds:g}s")
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() in tolerate:
                continue
            errors.append(f"{what} {name}: {kafka_message(exc)}")
    if errors:
        raise TopicsApplyError("\n".join(errors))
    return results


def execute(admin: AdminClient, plan: Plan, deadline: Deadline) -> None:
    """Carry out the plan's actions in order: creates, partition increases, config changes.

    Each step waits for the broker's answer before the next starts, so a failure stops the
    apply with the earlier steps done and the later ones untouched; rerunning the apply
    plans just what is left.
    """
    creates = [a for a in plan.actions if isinstance(a, CreateTopic)]
    raises = [a for a in plan.actions if isinstance(a, AddPartitions)]
    alters = [a for a in plan.actions if isinstance(a, AlterConfigs)]

    if creates:
        new_topics = [
            NewTopic(
                a.spec.name,
                num_partitions=a.spec.partitions,
                replication_factor=a.spec.replication_factor,
                config=dict(a.spec.config),
            )
            for a in creates
        ]
        futures = admin.create_topics(
            new_topics,
            operation_timeout=deadline.remaining(),
            request_timeout=deadline.remaining(),
        )
        # Another apply (a second process, a parallel test session) may create the same topic
        # first; the check after the apply then tells whether it matches the spec.
        _wait(futures, deadline, "create", tolerate=frozenset({KafkaError.TOPIC_ALREADY_EXISTS}))

    if raises:
        new_partitions = [NewPartitions(a.topic, a.desired) for a in raises]
        futures = admin.create_partitions(
            new_partitions,
            operation_timeout=deadline.remaining(),
            request_timeout=deadline.remaining(),
        )
        _wait(futures, deadline, "add partitions to")

    if alters:
        resources = [
            ConfigResource(
                ResourceType.TOPIC,
                a.topic,
                incremental_configs=[
                    ConfigEntry(c.key, c.desired, incremental_operation=AlterConfigOpType.SET)
                    for c in a.changes
                ],
            )
            for a in alters
        ]
        config_futures = admin.incremental_alter_configs(
            resources, request_timeout=deadline.remaining()
        )
        _wait({r.name: f for r, f in config_futures.items()}, deadline, "alter configs of")
