"""Avro codecs for every LinkFlow message family (see schemas/README.md).

    from linkflow.codec import encode_history, decode_history, DecodeError

    data = encode_history({"execution_id": "e1", "event_id": 1, "timestamp_ms": 0,
                           "event_type": "TimerFired", "attributes": {"timer_id": "t1"}})
    decode_history(data)  # -> the same dict; DecodeError for anything unreadable

A history event is the envelope of docs/events.md with its typed record under
`attributes`. Commands, results, tasks and definitions are flat dicts, as docs/events.md
lists them, with the type in `input_type`, `task_type` or `definition_type`:

    encode_command({"input_type": "CancelWorkflow", "execution_id": "e1", "sent_at_ms": 0,
                    "request_id": "r1", "reason": "user asked", "identity": "ana"})

JSON payload fields take and give plain Python values. Encoding failures raise
EncodeError; decoding failures raise DecodeError (with a `reason`), and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from linkflow.codec.codec import Codec, Message
from linkflow.codec.errors import DecodeError, DecodeReason, EncodeError
from linkflow.codec.families import FAMILIES, Family, family
from linkflow.codec.store import load_current, load_released

__all__ = [
    "FAMILIES",
    "Codec",
    "DecodeError",
    "DecodeReason",
    "EncodeError",
    "Family",
    "Message",
    "codec",
    "decode_command",
    "decode_definition",
    "decode_history",
    "decode_result",
    "decode_task",
    "encode_command",
    "encode_definition",
    "encode_history",
    "encode_result",
    "encode_task",
]


@cache
def codec(name: str) -> Codec:
    """The codec of family `name` ("commands", "results", "history", "tasks", "definitions"),
    built once per process from schemas/<name>.avsc and schemas/released/<name>/v*.avsc."""
    fam = family(name)
    released = [schema for _, schema in load_released(fam.name)]
    return Codec(fam, load_current(fam.name), released)


def encode_command(message: Mapping[str, Any]) -> bytes:
    return codec("commands").encode(message)


def decode_command(data: bytes) -> Message:
    return codec("commands").decode(data)


def encode_result(message: Mapping[str, Any]) -> bytes:
    return codec("results").encode(message)


def decode_result(data: bytes) -> Message:
    return codec("results").decode(data)


def encode_history(event: Mapping[str, Any]) -> bytes:
    return codec("history").encode(event)


def decode_history(data: bytes) -> Message:
    return codec("history").decode(data)


def encode_task(message: Mapping[str, Any]) -> bytes:
    return codec("tasks").encode(message)


def decode_task(data: bytes) -> Message:
    return codec("tasks").decode(data)


def encode_definition(message: Mapping[str, Any]) -> bytes:
    return codec("definitions").encode(message)


def decode_definition(data: bytes) -> Message:
    return codec("definitions").decode(data)
