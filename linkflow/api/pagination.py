"""Opaque keyset cursors for the executions list.

A cursor is the sort key of the last row of a page, (started_at, execution_id), plus the
sort order it was made for. execution_id breaks ties in started_at, so no row is skipped or
repeated between pages even when many executions start in the same microsecond, and pages
stay stable while new executions arrive. The encoding is url-safe base64 of compact JSON:
opaque to clients by contract, readable when debugging.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from linkflow.api.errors import bad_parameter

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VERSION = 1
ORDERS = ("desc", "asc")


@dataclass(frozen=True, slots=True)
class Cursor:
    started_at: datetime
    execution_id: str
    order: str


def _micros(value: datetime) -> int:
    # Integer microseconds keep the exact timestamptz value; a float or a formatted string
    # could round and make the next page skip or repeat a row.
    delta = value.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Strict: a character outside the alphabet is an error, not silently dropped."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def encode_cursor(cursor: Cursor) -> str:
    payload = {
        "v": _VERSION,
        "t": _micros(cursor.started_at),
        "id": cursor.execution_id,
        "o": cursor.order,
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return b64url_encode(raw)


def decode_cursor(text: str, order: str, name: str = "cursor") -> Cursor:
    """The cursor in `text`; 400 naming `name` when it is not one this service made or was
    made for the other sort order."""
    try:
        raw = b64url_decode(text)
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad_parameter(name, "not a cursor returned by this service") from None
    if (
        not isinstance(payload, dict)
        or payload.get("v") != _VERSION
        or not isinstance(payload.get("t"), int)
        or isinstance(payload.get("t"), bool)
        or not isinstance(payload.get("id"), str)
        or payload.get("o") not in ORDERS
    ):
        raise bad_parameter(name, "not a cursor returned by this service")
    if payload["o"] != order:
        raise bad_parameter(name, f"cursor was made for order={payload['o']}, not order={order}")
    try:
        started_at = _EPOCH + timedelta(microseconds=payload["t"])
    except OverflowError:
        raise bad_parameter(name, "not a cursor returned by this service") from None
    return Cursor(started_at=started_at, execution_id=payload["id"], order=order)
