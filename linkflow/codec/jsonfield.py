"""User payloads: `bytes` fields with logicalType "json" carry UTF-8 JSON.

Registering the conversion with fastavro (instead of walking each decoded record in
Python) keeps the work inside fastavro's compiled reader/writer, nested records included.
Avro readers that do not know the logical type simply see bytes, as the spec requires.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from fastavro.read import LOGICAL_READERS
from fastavro.write import LOGICAL_WRITERS

# fastavro looks logical types up as "<avro type>-<logicalType>".
LOGICAL_KEY = "bytes-json"


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON; accepting them would let one bad producer poison every
    # consumer that re-encodes the value (allow_nan=False below) or is not written in Python.
    raise ValueError(f"{name} is not valid JSON")


def _not_serializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)

# JSONEncoder.encode builds a new C encoder on every call; building it once halves the
# cost of a typical payload. Arguments: markers (None: no cycle check, a cycle ends in
# RecursionError), default, string encoder, indent, key and item separators, sort_keys,
# skipkeys, allow_nan.
_make_c_encoder: Callable[..., Callable[[Any, int], list[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
_C_ENCODER = (
    _make_c_encoder(
        None, _not_serializable, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    if _make_c_encoder is not None
    else None
)


def to_json_bytes(value: Any, _schema: Mapping[str, Any] | None = None) -> bytes:
    """Serialize a plain Python value (dict, list, str, int, float, bool, None) to JSON."""
    if _C_ENCODER is None:
        return _ENCODER.encode(value).encode()
    return "".join(_C_ENCODER(value, 0)).encode()


def from_json_bytes(
    data: bytes,
    _writer_schema: Mapping[str, Any] | None = None,
    _reader_schema: Mapping[str, Any] | None = None,
) -> Any:
    """Parse JSON bytes; raises ValueError (incl. UnicodeDecodeError) on anything else."""
    return _DECODER.decode(data.decode())


def register() -> None:
    """Install the conversion in fastavro (process-wide; idempotent)."""
    LOGICAL_WRITERS[LOGICAL_KEY] = to_json_bytes
    LOGICAL_READERS[LOGICAL_KEY] = from_json_bytes
