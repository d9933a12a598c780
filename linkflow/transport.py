"""Topic names and Kafka client settings every LinkFlow process shares.

Co-partitioning only holds if every producer maps a key to the same partition. Faust and
aiokafka use murmur2 (like the Java client); confluent-kafka defaults to CRC32, so every
confluent-kafka producer in LinkFlow must be built from `producer_config`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message

from linkflow.limits import PAYLOAD_BYTES, LimitSetting

COMMANDS = "linkflow.commands"
RESULTS = "linkflow.results"
HISTORY = "linkflow.history"
DEFINITIONS = "linkflow.definitions"
DLQ = "linkflow.dlq"
CREDENTIALS = "linkflow.credentials"
CIRCUITS = "linkflow.circuits"
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
# 512 KiB unless LINKFLOW_MAX_PAYLOAD_BYTES sets it lower (linkflow/limits.py).
MAX_PAYLOAD_BYTES = PAYLOAD_BYTES.value()


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


# How long the broker may hold a fetch that has less than `fetch.min.bytes` readable. A
# transaction's commit marker answers a read_committed fetch that waits for the records it
# makes readable at once (measured on the local broker, Kafka 4.3.1: a record committed in
# a transaction reached a consumer waiting with 500 ms in 2.5 ms, p50 of 30), so with the
# default minimum of 1 the wait only paces the fetches of a consumer that has nothing to
# read: one per wait per broker. A near-idle stack (three-noop workflows at 2/s) used
# 1.8 CPU-s per 10 s with 100 ms, 1.7 with 500 ms and 2.7 with 20 ms, at the same latency;
# 100 also bounds how long a seek or a resume may wait for the fetch in flight.
IDLE_FETCH_WAIT_MS = 100
# The wait when a fetch asks for more than 1 byte: it bounds what each hop may add to a
# workflow's latency while a fetch gathers bytes under light load.
GATHER_FETCH_WAIT_MS = 20
# How much a fetch asks the broker to gather (for at most GATHER_FETCH_WAIT_MS) before
# answering. 1 answers as soon as anything is readable: the lowest latency, but under
# load every consumer fetches a few records at a time, and the broker and the clients pay
# per fetch. docs/performance.md has the figures of both choices.
FETCH_MIN_BYTES = LimitSetting(
    "LINKFLOW_FETCH_MIN_BYTES",
    1,
    1,
    1024 * 1024,
    "a fetch waits at most 20 ms whatever it asks for; more than 1 MiB only delays",
)


def fetch_wait_ms(min_bytes: int) -> int:
    """`fetch.wait.max.ms` for a consumer asking for `min_bytes`."""
    return IDLE_FETCH_WAIT_MS if min_bytes <= 1 else GATHER_FETCH_WAIT_MS


HIGH_SUFFIX = ".high"
# Seconds a handler runs before a worker reports ActivityStarted for its attempt (a quick
# attempt reports only its outcome; `linkflow worker --report-started-after`).
STARTED_REPORT_DELAY = 0.5


def task_topic(queue: str, high: bool = False) -> str:
    """The topic of a task queue; `high`: of its high-priority tasks, which the queue's
    workers drain first."""
    return f"{TASKS_PREFIX}{queue}{HIGH_SUFFIX if high else ''}"


# How every Kafka client of LinkFlow reaches a secured cluster (docs/configuration.md,
# README "Kafka and PostgreSQL security"): the common settings as variables, and any
# librdkafka setting in a properties file (`key=value` lines, as Kafka's client.properties).
KAFKA_SECURITY_ENV: dict[str, str] = {
    "LINKFLOW_KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "LINKFLOW_KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "LINKFLOW_KAFKA_SASL_USERNAME": "sasl.username",
    "LINKFLOW_KAFKA_SASL_PASSWORD": "sasl.password",
    "LINKFLOW_KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
}
ENV_KAFKA_CONFIG_FILE = "LINKFLOW_KAFKA_CONFIG_FILE"


class KafkaConfigError(ValueError):
    """The Kafka client settings file cannot be read or parsed."""


def kafka_security() -> dict[str, str]:
    """The librdkafka settings LINKFLOW_KAFKA_CONFIG_FILE and LINKFLOW_KAFKA_* give (the
    variables win over the file)."""
    config: dict[str, str] = {}
    path = os.environ.get(ENV_KAFKA_CONFIG_FILE)
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise KafkaConfigError(f"{ENV_KAFKA_CONFIG_FILE}: cannot read {path}: {exc}") from None
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text or text.startswith(("#", "!")):
                continue
            key, sep, value = text.partition("=")
            if not sep or not key.strip():
                raise KafkaConfigError(
                    f"{ENV_KAFKA_CONFIG_FILE}: {path} line {number}: expected key=value"
                )
            config[key.strip()] = value.strip()
    for name, key in KAFKA_SECURITY_ENV.items():
        value = os.environ.get(name)
        if value:
            config[key] = value
    return config


def client_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    """Settings for any Kafka client (admin, probe): the servers and the security ones."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, **kafka_security()}
    config.update(overrides)
    return config


def producer_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        **client_config(bootstrap_servers),
        "partitioner": "murmur2_random",  # the Java/aiokafka/Faust partitioner
        "enable.idempotence": True,
        "linger.ms": 2,
    }
    config.update(overrides)
    return config


def consumer_config(bootstrap_servers: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        **client_config(bootstrap_servers),
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # Harmless without transactions; keeps aborted data out if a producer uses them.
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
    }
    config.update(overrides)
    # Overrides may set either: the wait follows the minimum actually asked for.
    config.setdefault("fetch.min.bytes", FETCH_MIN_BYTES.value())
    config.setdefault("fetch.wait.max.ms", fetch_wait_ms(int(config["fetch.min.bytes"])))
    return config


def fetched(consumer: Consumer, most: int, wait: float) -> list[Message]:
    """Up to `most` messages, waiting at most `wait` for the first. consume(n, timeout)
    alone waits out its whole timeout unless n messages arrive: reading a topic of a few
    hundred records to its end took 0.5 s a call that way."""
    first = consumer.poll(wait)
    if first is None:
        return []
    return [first, *consumer.consume(most - 1, 0)]
