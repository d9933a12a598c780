"""Query-parameter parsing shared by the handlers. Every failure is an ApiError 400 that names
the parameter, so a typo in a script is reported instead of silently ignored."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta

from aiohttp import web
from multidict import MultiMapping

from linkflow.api.errors import bad_parameter, not_found
from linkflow.model.limits import MAX_ID_LENGTH

Query = MultiMapping[str]
NUL = "\x00"
# Epoch milliseconds up to 13 digits reach the year 2286; more is a typo, not a time.
_MAX_EPOCH_DIGITS = 13


def reject_unknown(query: Query, allowed: Collection[str], prefixes: Iterable[str] = ()) -> None:
    """400 for a parameter the endpoint does not know (a misspelt filter would otherwise
    widen the result to everything)."""
    prefixes = tuple(prefixes)
    for name in query:
        if name not in allowed and not (prefixes and name.startswith(prefixes)):
            raise bad_parameter(name, "unknown parameter")


def path_id(request: web.Request, name: str, what: str) -> str:
    """A path id; one PostgreSQL cannot store (it holds U+0000) names nothing: 404. One
    longer than any id LinkFlow accepts is a 400 (a command must not publish it)."""
    value = request.match_info[name]
    if len(value) > MAX_ID_LENGTH:
        raise bad_parameter(name, f"longer than {MAX_ID_LENGTH} characters")
    if NUL in value:
        raise not_found(what, value)
    return value


def _text(name: str, value: str) -> str:
    # PostgreSQL text cannot hold U+0000; refuse it here rather than fail in the driver.
    if NUL in value:
        raise bad_parameter(name, "must not contain U+0000")
    return value


def single(query: Query, name: str) -> str | None:
    values = query.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise bad_parameter(name, "given more than once")
    return _text(name, values[0])


def int_param(query: Query, name: str, default: int, minimum: int, maximum: int) -> int:
    text = single(query, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise bad_parameter(name, f"expected an integer, got {text!r}") from None
    if not minimum <= value <= maximum:
        raise bad_parameter(name, f"must be between {minimum} and {maximum}, got {value}")
    return value


def float_param(query: Query, name: str, default: float, minimum: float, maximum: float) -> float:
    text = single(query, name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise bad_parameter(name, f"expected a number, got {text!r}") from None
    if not minimum <= value <= maximum:  # also rejects nan
        raise bad_parameter(name, f"must be between {minimum:g} and {maximum:g}, got {text}")
    return value


def choice_param(query: Query, name: str, choices: tuple[str, ...], default: str) -> str:
    text = single(query, name)
    if text is None:
        return default
    if text not in choices:
        raise bad_parameter(name, f"must be one of {', '.join(choices)}, got {text!r}")
    return text


def list_param(
    query: Query,
    name: str,
    choices: Collection[str] | None = None,
    *,
    split_commas: bool = False,
) -> tuple[str, ...]:
    """A repeated parameter (`?status=a&status=b`); with `split_commas` also `?status=a,b`
    (only for values that cannot contain a comma)."""
    values: list[str] = []
    for raw in query.getall(name, []):
        for part in raw.split(",") if split_commas else [raw]:
            part = _text(name, part.strip() if split_commas else part)
            if not part:
                raise bad_parameter(name, "empty value")
            if choices is not None and part not in choices:
                raise bad_parameter(
                    name, f"must be one of {', '.join(sorted(choices))}, got {part!r}"
                )
            if part not in values:
                values.append(part)
    return tuple(values)


def parse_time(text: str) -> datetime:
    """RFC 3339 (`2025-01-02T03:04:05Z`, any offset; UTC when none is given) or epoch
    milliseconds, the unit every LinkFlow message uses."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        if len(text) > _MAX_EPOCH_DIGITS:
            raise ValueError("epoch milliseconds out of range")
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+01:00 is before any representable UTC time (and 9999-12-31
        # with a negative offset after it): as a bound it is the edge of time.
        offset = value.utcoffset() or timedelta(0)
        return (
            datetime.min.replace(tzinfo=UTC)
            if offset > timedelta(0)
            else datetime.max.replace(tzinfo=UTC)
        )


def time_param(query: Query, name: str) -> datetime | None:
    text = single(query, name)
    if text is None:
        return None
    try:
        return parse_time(text)
    except (ValueError, OverflowError, OSError):
        raise bad_parameter(
            name, f"expected an RFC 3339 time or epoch milliseconds, got {text!r}"
        ) from None
