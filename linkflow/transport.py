"""Topic names and Kafka client settings every LinkFlow process shares.

Co-partitioning only holds if every producer maps a key to the same partition. Faust and
aiokafka use murmur2 (like the Java client); confluent-kafka defaults to CRC32, so every
confluent-kafka producer in LinkFlow must be built from `producer_config`.
"""

from __future__ import annotations

import json
from typing import Any

COMMANDS = "linkflow.commands"
RESULTS = "linkflow.results"
HISTORY = "linkflow.history"
DEFINITIONS = "linkflow.definitions"
DLQ = "linkflow.dlq"
TASKS_PREFIX = "linkflow.tasks."
DEFAULT_QUEUE = "default"

# The largest record value LinkFlow produces. librdkafka refuses a message above its
# message.max.bytes (1,000,000 by default) and the topics in topics/ accept 1 MiB batches;
# the margin leaves room for the key, headers and the batch framing. A decision that would
# write a bigger record is refused (its input goes to the DLQ), and a dead letter whose
# original value is bigger is stored truncated (`linkflow.dlq`).
MAX_RECORD_BYTES = 950_000
# The largest user payload (an execution's input, a signal's payload, an activity's result)
# as compact JSON. Smaller than a record: an execution's state keeps its node outputs, and
# the whole state is one record. Large data belongs in object storage, passed by reference.
MAX_PAYLOAD_BYTES = 512 * 1024


class PayloadTooLarge(ValueError):
    """A payload above MAX_PAYLOAD_BYTES; the message names it and both sizes."""


def payload_bytes(value: Any) -> int:
    """The size of `value` as compact JSON, as LinkFlow carries it."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)
    return len(text.encode(errors="surrogatepass"))


def check_payload(what: str, value: Any) -> None:
    size = payload_bytes(value)
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(
            f"{what} is {size} bytes as JSON; the largest payload LinkFlow accepts is "
            f"{MAX_PAYLOAD_BYTES} bytes (pass large data by reference)"
        )


# How long the broker may hold a fetch that found nothing. Measured on the local broker: a
# read_committed fetch is not answered when a transaction's commit marker makes records
# readable, only when this wait runs out, so each hop through the history processor's
# transactional output waited up to the default 500 ms (three-noop workflow at 20/s:
# p50 281 ms start to complete in Postgres, 51 ms with 20). Shorter means more idle
# fetches (one per consumer per wait when nothing arrives).
READ_COMMITTED_FETCH_WAIT_MS = 20


def task_topic(queue: str) -> str:
    return f"{TASKS_PREFIX}{queue}"


def producer_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "partitioner": "murmur2_random",  # the Java/aiokafka/Faust partitioner
        "enable.idempotence": True,
        "linger.ms": 2,
    }
    config.update(overrides)
    return config


def consumer_config(bootstrap_servers: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # Harmless without transactions; keeps aborted data out if a producer uses them.
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
        "fetch.wait.max.ms": READ_COMMITTED_FETCH_WAIT_MS,
    }
    config.update(overrides)
    return config
