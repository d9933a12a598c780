"""Whether a JSON body can be stored and carried: PostgreSQL text and jsonb cannot hold
U+0000, UTF-8 cannot hold a lone surrogate, and nesting is bounded. The API checks request
bodies with it, and its definitions catalog the definitions other producers published."""

from __future__ import annotations

from typing import Any

# Deeper bodies are refused: no workflow input needs them, and recursion over them (the
# JSON and Avro encoders, expressions) would fail far from the request that caused it.
MAX_JSON_DEPTH = 64


def value_problem(value: Any, depth: int = 0) -> str | None:
    """Why `value` cannot be accepted, if it cannot: PostgreSQL text and jsonb cannot hold
    U+0000 and UTF-8 cannot hold a lone surrogate (both accepted here would fail later,
    in the sink or an encoder, instead of where it came in), and nesting is bounded."""
    if isinstance(value, str):
        return _string_problem(value)
    if depth >= MAX_JSON_DEPTH and isinstance(value, dict | list):
        return f"the body is nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _string_problem(key) or value_problem(item, depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = value_problem(item, depth + 1)
            if problem:
                return problem
    return None


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "strings in the body must not contain U+0000"
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return "strings in the body must be valid Unicode (a lone surrogate is not)"
    return None
