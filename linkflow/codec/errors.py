"""The codec's errors: one type per direction, so callers have exactly one thing to catch."""

from __future__ import annotations

from enum import StrEnum


class DecodeReason(StrEnum):
    """Why bytes could not be decoded; a short, stable string fit for a dead-letter header."""

    BAD_MARKER = "bad_marker"
    TRUNCATED = "truncated"
    UNKNOWN_FINGERPRINT = "unknown_fingerprint"
    MALFORMED = "malformed"


class DecodeError(ValueError):
    """The bytes are not a message of the expected family that this version can read.

    Consumers route the original bytes to the dead letter topic: retrying cannot help.
    """

    def __init__(self, reason: DecodeReason, detail: str, fingerprint: bytes | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason: DecodeReason = reason
        self.detail = detail
        # The fingerprint helps tell "a newer producer" from "garbage" when inspecting the DLQ.
        self.fingerprint = fingerprint


class EncodeError(ValueError):
    """The message does not fit its schema (unknown type, missing field, non-JSON payload ...).

    This is a bug in the producing code, never a property of the data on a topic.
    """
