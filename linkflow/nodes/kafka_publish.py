"""`kafka_publish`: produce one message to a user topic on the worker's Kafka cluster.

Config: `topic`; `value` (sent as JSON unless `value_format` is text (a string, sent as
UTF-8) or base64 (a base64 string, sent decoded)); `key` (a string as is, anything else as
JSON; none by default); `headers` (an object of string values).

Result: `{"topic", "partition", "offset"}` once the broker acknowledged the message. The
producer is built from linkflow.transport.producer_config (murmur2, idempotent), so keys
land on the same partitions as with the Java client, Faust and aiokafka.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException

from linkflow import settings, transport
from linkflow.nodes import _config as cfg
from linkflow.worker.context import ActivityContext
from linkflow.worker.errors import ActivityError
from linkflow.worker.producer import AsyncProducer, is_permanent, kafka_error
from linkflow.worker.registry import activity

NODE_TYPE = "kafka_publish"
KAFKA_PUBLISH_ERROR = "KafkaPublishError"
VALUE_FORMATS = ("json", "text", "base64")
PRODUCER_RESOURCE = "linkflow.nodes.kafka_publish.producer"
# Without a bound, a missing topic keeps a message (and the activity) waiting 5 minutes.
MESSAGE_TIMEOUT_MS = 30_000

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "topic": {"type": "string"},
        "key": {"description": "A string, or any JSON value (sent as JSON)."},
        "value": {"description": "The message value."},
        "value_format": {"type": "string", "enum": list(VALUE_FORMATS)},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["topic", "value"],
    "additionalProperties": False,
}


def encode_value(value: Any, value_format: str) -> bytes | None:
    if value_format == "json":
        return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()
    if not isinstance(value, str):
        raise cfg.invalid(NODE_TYPE, f"a {value_format} value must be a string")
    if value_format == "text":
        return value.encode()
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise cfg.invalid(NODE_TYPE, "'value' is not valid base64") from None


def encode_key(key: Any) -> bytes | None:
    if key is None:
        return None
    if isinstance(key, str):
        return key.encode()
    return json.dumps(key, allow_nan=False, separators=(",", ":")).encode()


def encode_headers(headers: Any) -> list[tuple[str, str | bytes | None]] | None:
    if headers is None:
        return None
    if not isinstance(headers, Mapping):
        raise cfg.invalid(NODE_TYPE, "'headers' must be an object")
    return [(str(k), None if v is None else str(v).encode()) for k, v in headers.items()]


@activity(
    NODE_TYPE,
    config_schema=CONFIG_SCHEMA,
    description="Produces one message to a topic on the worker's Kafka cluster.",
    output='`{"topic", "partition", "offset"}` once the broker acknowledged it.',
)
async def kafka_publish(ctx: ActivityContext, config: Any) -> dict[str, Any]:
    c = cfg.as_mapping(NODE_TYPE, config)
    topic = cfg.string(NODE_TYPE, c, "topic")
    if "value" not in c:
        raise cfg.invalid(NODE_TYPE, "'value' is required")
    value_format = cfg.choice(NODE_TYPE, c, "value_format", VALUE_FORMATS, "json")
    try:
        value = encode_value(c["value"], value_format)
        key = encode_key(c.get("key"))
    except (TypeError, ValueError) as exc:
        raise cfg.invalid(NODE_TYPE, f"cannot encode the message: {exc}") from None
    headers = encode_headers(c.get("headers"))
    bootstrap = ctx.kafka_bootstrap or settings.kafka_bootstrap()

    def make_producer() -> AsyncProducer:
        config = transport.producer_config(bootstrap, **{"message.timeout.ms": MESSAGE_TIMEOUT_MS})
        return AsyncProducer(config, name="kafka-publish")

    producer = await ctx.resources.get(PRODUCER_RESOURCE, make_producer)
    try:
        message = await producer.produce(topic, value, key, headers)
    except KafkaException as exc:
        error = kafka_error(exc)
        raise ActivityError(
            KAFKA_PUBLISH_ERROR,
            f"producing to {topic!r} failed: {error.str() if error else exc}",
            retryable=not is_permanent(exc),
            details={"topic": topic, "error": error.name() if error else type(exc).__name__},
        ) from exc
    return {"topic": message.topic(), "partition": message.partition(), "offset": message.offset()}
