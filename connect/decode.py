"""Turn consumed Kafka records into history events the projection can fold, or reasons why
not (those records go to the dead-letter topic)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from linkflow.codec import DecodeError, decode_history

# PostgreSQL's timestamptz ends at year 294276, Python's datetime at 9999; keep to the latter
# so every consumer of the projection can read what the sink writes.
_MAX_TIMESTAMP_MS = 253_402_300_799_999


class Record(Protocol):
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> Any: ...  # a list of (name, bytes) pairs from a consumer


@dataclass(frozen=True, slots=True)
class Item:
    """One consumed record in consume order; `event` is None when it is not projected."""

    partition: int
    offset: int
    event: dict[str, Any] | None
    key: bytes | None = None
    value: bytes | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Rejected:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    reason: str  # short and stable, for the dead-letter header
    error_type: str
    error: str


@dataclass(slots=True)
class Decoded:
    items: list[Item] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def check_event(event: dict[str, Any]) -> str | None:
    """Why a decoded event cannot be projected, or None. The codec checked the types; this
    checks the values the database would refuse or the projection relies on."""
    if not event["execution_id"]:
        return "empty execution_id"
    if event["event_id"] < 1:
        return f"event_id {event['event_id']} is not positive"
    if not 0 <= event["timestamp_ms"] <= _MAX_TIMESTAMP_MS:
        return f"timestamp_ms {event['timestamp_ms']} is out of range"
    return None


def decode_records(records: Iterable[Record]) -> Decoded:
    out = Decoded()
    for record in records:
        partition = record.partition()
        offset = record.offset()
        assert partition is not None and offset is not None
        value = record.value()
        headers = tuple(record.headers() or ())
        event: dict[str, Any] | None = None
        problem: str | None
        if value is None:
            reason, error_type, problem = "empty", "EmptyRecord", "a history record without value"
        else:
            try:
                event = decode_history(value)
            except DecodeError as exc:
                reason, error_type, problem = str(exc.reason), type(exc).__name__, str(exc)
            else:
                reason, error_type = "invalid_event", "InvalidEvent"
                problem = check_event(event)
        if problem is not None:
            out.rejected.append(
                Rejected(
                    partition, offset, record.key(), value, headers, reason, error_type, problem
                )
            )
            out.items.append(Item(partition, offset, None))
        else:
            out.items.append(Item(partition, offset, event, record.key(), value, headers))
    return out
