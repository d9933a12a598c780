"""Durations in definitions: integer milliseconds or strings such as "500ms", "1m30s", "2h"."""

from __future__ import annotations

import re
from typing import Any

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(value: Any) -> int:
    """Milliseconds for `value`; raises ValueError for anything that is not a duration."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"negative duration: {value!r}")
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if text.isdigit():
            return int(text)
        pos = 0
        total = 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNIT_MS[match.group(2)]
            pos = match.end()
        if pos == len(text) and pos > 0:
            return int(total)
    raise ValueError(f"not a duration: {value!r} (use milliseconds or e.g. '500ms', '5s', '1m30s')")
