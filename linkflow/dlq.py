"""Dead letters: a message no LinkFlow consumer can handle goes to `linkflow.dlq`, unchanged.

The value and key are the original bytes, so `linkflow dlq requeue` can put the message back
exactly as it was; why it failed and where it came from travel in headers (text values):

    linkflow.dlq.reason        short stable reason, e.g. "bad_marker", "malformed", "empty"
    linkflow.dlq.error_type    the error class, e.g. "DecodeError"
    linkflow.dlq.topic         source topic
    linkflow.dlq.partition     source partition (decimal)
    linkflow.dlq.offset        source offset (decimal)
    linkflow.dlq.detail        human-readable detail (optional, truncated)
    linkflow.dlq.failed_at_ms  when it was dead-lettered (epoch ms)
    linkflow.dlq.original_size only on a truncated dead letter: the original value's size
    linkflow.dlq.sha256        and its SHA-256 (hex); the value holds its first bytes

The original message's headers come first, unchanged, so nothing the producer attached is
lost. `dead_letter_headers` works with any client (aiokafka takes the same list of pairs);
`produce_dead_letter` sends with a confluent-kafka Producer built from
`linkflow.transport.producer_config`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from linkflow.transport import DLQ, MAX_RECORD_BYTES

HEADER_PREFIX = "linkflow.dlq."
REASON = HEADER_PREFIX + "reason"
ERROR_TYPE = HEADER_PREFIX + "error_type"
SOURCE_TOPIC = HEADER_PREFIX + "topic"
SOURCE_PARTITION = HEADER_PREFIX + "partition"
SOURCE_OFFSET = HEADER_PREFIX + "offset"
DETAIL = HEADER_PREFIX + "detail"
FAILED_AT_MS = HEADER_PREFIX + "failed_at_ms"
ORIGINAL_SIZE = HEADER_PREFIX + "original_size"
SHA256 = HEADER_PREFIX + "sha256"

# Headers travel with every DLQ record; a stack trace does not belong there.
MAX_DETAIL_CHARS = 1000

Headers = list[tuple[str, bytes]]
DeliveryCallback = Callable[[Any, Any], None]


class _Producer(Protocol):
    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None: ...


def dead_letter_headers(
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    error_type: str,
    *,
    detail: str | None = None,
    failed_at_ms: int | None = None,
) -> Headers:
    """The `linkflow.dlq.*` headers describing why and from where a message was dead-lettered."""
    headers: Headers = [
        (REASON, reason.encode()),
        (ERROR_TYPE, error_type.encode()),
        (SOURCE_TOPIC, topic.encode()),
        (SOURCE_PARTITION, str(partition).encode()),
        (SOURCE_OFFSET, str(offset).encode()),
        (FAILED_AT_MS, str(_now_ms() if failed_at_ms is None else failed_at_ms).encode()),
    ]
    if detail:
        headers.append((DETAIL, detail[:MAX_DETAIL_CHARS].encode(errors="replace")))
    return headers


def produce_dead_letter(
    producer: _Producer,
    value: bytes | None,
    *,
    key: bytes | None,
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    error_type: str,
    detail: str | None = None,
    original_headers: Sequence[tuple[str, str | bytes | None]] | None = None,
    dlq_topic: str = DLQ,
    on_delivery: DeliveryCallback | None = None,
) -> None:
    """Queue the original message on the DLQ topic; `on_delivery(err, msg)` reports the outcome.

    Callers must only move past the source offset once delivery succeeded, or a crash in
    between loses the message.
    """
    headers: list[tuple[str, str | bytes | None]] = list(original_headers or ())
    headers.extend(dead_letter_headers(reason, topic, partition, offset, error_type, detail=detail))
    if value is not None and len(value) > MAX_RECORD_BYTES:
        # The original would be refused by the producer or the topic, and a dead letter
        # must never fail: keep its start, and what identifies the whole.
        headers.append((ORIGINAL_SIZE, str(len(value)).encode()))
        headers.append((SHA256, hashlib.sha256(value).hexdigest().encode()))
        value = value[:MAX_RECORD_BYTES]
    kwargs: dict[str, Any] = {"value": value, "key": key, "headers": headers}
    if on_delivery is not None:
        kwargs["on_delivery"] = on_delivery
    producer.produce(dlq_topic, **kwargs)


@dataclass(frozen=True)
class DeadLetterInfo:
    """What the `linkflow.dlq.*` headers of a DLQ record say (for `linkflow dlq list`)."""

    reason: str
    error_type: str
    topic: str
    partition: int
    offset: int
    detail: str | None
    failed_at_ms: int | None


def read_dead_letter_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> DeadLetterInfo:
    """Parse the `linkflow.dlq.*` headers; missing ones read as "" or -1 (never raises)."""
    found: dict[str, str] = {}
    for name, raw in headers or ():
        if name.startswith(HEADER_PREFIX) and raw is not None:
            found[name] = raw.decode(errors="replace")
    return DeadLetterInfo(
        reason=found.get(REASON, ""),
        error_type=found.get(ERROR_TYPE, ""),
        topic=found.get(SOURCE_TOPIC, ""),
        partition=_int(found.get(SOURCE_PARTITION), -1),
        offset=_int(found.get(SOURCE_OFFSET), -1),
        detail=found.get(DETAIL),
        failed_at_ms=_int(found.get(FAILED_AT_MS), None),
    )


def without_dead_letter_headers(
    headers: Iterable[tuple[str, bytes | None]] | None,
) -> list[tuple[str, bytes | None]]:
    """The original headers of a DLQ record, as they were before it was dead-lettered."""
    return [(name, raw) for name, raw in headers or () if not name.startswith(HEADER_PREFIX)]


def _int(text: str | None, default: Any) -> Any:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _now_ms() -> int:
    return int(time.time() * 1000)
