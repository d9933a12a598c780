"""How expression results read as conditions and as text."""

from __future__ import annotations

import json
from typing import Any


def is_truthy(value: Any) -> bool:
    """Whether a result counts as true for a condition (if, while, switch case).

    JSON rules as in JavaScript and Python: null, false, 0, 0.0, "", [] and {} are false,
    every other value is true. Note the string "false" is true; compare explicitly
    (`x == "false"`) when data carries booleans as strings.
    """
    if value is None or value is False:
        return False
    if value is True:
        return True
    try:
        return bool(value)
    except Exception:
        # An object with a refusing __bool__ exists, so it is something.
        return True


def to_text(value: Any) -> str:
    """A value as it appears inside interpolated text.

    null is empty, booleans are JSON's lowercase true/false, containers are compact
    JSON, strings are themselves, numbers as Python prints them.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)
