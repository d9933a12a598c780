"""Consumer lag of the runtime's consumer groups, for `linkflow ps`: per group, the records
between its committed offsets and the end of each partition it has committed on."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from connect.sink import DEFAULT_GROUP as SINK_GROUP
from linkflow import transport
from processors.history import DEFAULT_APP_ID as HISTORY_GROUP
from processors.timers import DEFAULT_APP_ID as TIMERS_GROUP


def group_of(args: Iterable[str]) -> str | None:
    """The consumer group of a runtime process, from its `linkflow` arguments (None: it
    consumes nothing, like the API)."""
    argv = list(args)
    match argv[:1]:
        case ["engine"]:
            return HISTORY_GROUP
        case ["timers"]:
            return TIMERS_GROUP
        case ["sink"]:
            return SINK_GROUP
        case ["worker"]:
            queue = argv[argv.index("--queue") + 1] if "--queue" in argv else "default"
            return f"linkflow-worker-{queue}"
    return None


def lags(bootstrap: str, groups: Iterable[str], timeout: float = 5.0) -> dict[str, int | None]:
    """Records behind per group (None: unknown, e.g. the broker did not answer). On a topic
    written in transactions (history) each partition's last commit marker counts as one."""
    wanted = sorted(set(groups))
    result: dict[str, int | None] = dict.fromkeys(wanted)
    if not wanted:
        return result
    admin = AdminClient(transport.client_config(bootstrap))
    ends = Consumer(
        transport.client_config(
            bootstrap,
            **{
                "group.id": f"linkflow-ps-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            },
        )
    )
    try:
        # One request per group: a group with nothing committed yet fails alone.
        for group in wanted:
            future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
            try:
                committed = future.result(timeout).topic_partitions or []
                total = 0
                for tp in committed:
                    if tp.offset < 0:
                        continue
                    _, high = ends.get_watermark_offsets(
                        TopicPartition(tp.topic, tp.partition), timeout=timeout
                    )
                    total += max(0, high - tp.offset)
                result[group] = total
            except (KafkaException, TimeoutError):
                result[group] = None
    finally:
        ends.close()
    return result
