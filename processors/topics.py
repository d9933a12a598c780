"""What the processors need of the cluster's topics, without Faust: a topic's shape, and the
compacted changelog topics that back their state stores."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from linkflow.topics import plan_and_apply
from linkflow.topics.kafka import Deadline, make_admin, observe
from linkflow.topics.model import MIN_INSYNC_REPLICAS, ObservedTopic, TopicSpec
from linkflow.transport import MAX_RECORD_BYTES

log = logging.getLogger(__name__)

METADATA_TIMEOUT = 30.0


class TopicMissing(RuntimeError):
    """A topic a processor reads does not exist (run `linkflow topics apply`)."""


class TopicTooSmall(RuntimeError):
    """A topic a processor writes refuses records as large as LinkFlow may write."""


# A batch of one record carries it with its key, headers and framing.
RECORD_OVERHEAD_BYTES = 16 * 1024


def check_record_limit(topic: ObservedTopic) -> None:
    """Refuse to start when `topic` cannot take a record of MAX_RECORD_BYTES: every write
    of one would fail at the broker, after the decision was made."""
    raw = topic.config.get("max.message.bytes")
    if raw is None:
        return
    needed = MAX_RECORD_BYTES + RECORD_OVERHEAD_BYTES
    if int(raw) < needed:
        raise TopicTooSmall(
            f"topic {topic.name} has max.message.bytes={raw}; LinkFlow writes records of up "
            f"to {MAX_RECORD_BYTES} bytes, so it needs at least {needed} "
            f"(see docs/limits.md and topics/)"
        )


def describe_topic(bootstrap: str, name: str, timeout: float = METADATA_TIMEOUT) -> ObservedTopic:
    """Partitions, replication and configs of `name` on the cluster (blocking)."""
    admin = make_admin(bootstrap)
    state = observe(admin, Deadline(timeout), describe_configs_of=[name], bootstrap=bootstrap)
    topic = state.topics.get(name)
    if topic is None:
        raise TopicMissing(
            f"topic {name} does not exist on {bootstrap}: run `linkflow topics apply`"
        )
    return topic


def ensure_changelog_topics(
    bootstrap: str,
    source: ObservedTopic,
    changelogs: Mapping[str, str],
    timeout: float = METADATA_TIMEOUT,
) -> None:
    """Create each changelog topic (name -> what it backs) shaped like `source` (blocking).

    Compacted, with the source's partitions, replication and min.insync.replicas, so a store
    is exactly as durable as the topic it is derived from. An existing changelog with
    another partition count is refused by the planner (a store would mix partitions).
    """
    isr = source.config.get(MIN_INSYNC_REPLICAS)
    config: Mapping[str, str] = {"cleanup.policy": "compact"}
    if isr is not None:
        config = {**config, MIN_INSYNC_REPLICAS: isr}
    specs = [
        TopicSpec(
            name=name,
            partitions=source.partitions,
            replication_factor=source.replication_factor,
            config=config,
            origin=origin,
        )
        for name, origin in changelogs.items()
    ]
    if specs:
        plan = plan_and_apply(bootstrap, specs, timeout=timeout)
        if not plan.empty:
            log.info("changelog topics:\n%s", plan.render())
