"""Avro single-object encoding: 0xC3 0x01, an 8-byte CRC-64-AVRO fingerprint, the body.

The fingerprint is of the schema's Parsing Canonical Form, little-endian as in the Avro
spec and the Java implementation, so any Avro consumer can find the writer schema.
"""

from __future__ import annotations

from typing import Any

from fastavro.schema import fingerprint, to_parsing_canonical_form

from linkflow.codec.errors import DecodeError, DecodeReason

MARKER = b"\xc3\x01"
FINGERPRINT_SIZE = 8
HEADER_SIZE = len(MARKER) + FINGERPRINT_SIZE


def schema_fingerprint(schema: Any) -> bytes:
    """The 8 header bytes identifying `schema` (a schema as loaded from its .avsc JSON)."""
    # fastavro returns the little-endian bytes as hex, which is exactly the header layout.
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


def read_header(data: bytes) -> bytes:
    """The fingerprint of a single-object encoded message; DecodeError when there is none."""
    if data[:2] != MARKER:
        if len(data) < 2 and MARKER.startswith(data):
            raise DecodeError(DecodeReason.TRUNCATED, f"{len(data)} bytes, no room for a header")
        raise DecodeError(DecodeReason.BAD_MARKER, f"starts with {bytes(data[:2])!r}, not C3 01")
    if len(data) < HEADER_SIZE:
        raise DecodeError(DecodeReason.TRUNCATED, f"{len(data)} bytes, header needs {HEADER_SIZE}")
    return bytes(data[2:HEADER_SIZE])
