"""Scrubbing secret values out of what an activity reports (result, error message and
details), so a server that echoes a credential back cannot put it into history, the
visibility tables, the API or logs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary text


def secrets_of(values: Iterable[str]) -> list[str]:
    """The strings to scrub, longest first (so a secret inside another goes with it)."""
    unique = {v for v in values if len(v) >= MIN_SECRET_LENGTH}
    return sorted(unique, key=len, reverse=True)


def redact(value: Any, secrets: list[str]) -> Any:
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    return value
