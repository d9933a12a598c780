"""Bounds the engine and its edges (API, client, registration) enforce; docs/limits.md
says what happens past each. Pure constants: the engine reads them too."""

from __future__ import annotations

# Versions are stored as PostgreSQL integers (and Avro ints): the largest is 2**31 - 1.
MAX_VERSION = 2**31 - 1

# Workflow, execution and node ids, signal names, idempotency keys. Child execution ids
# append to their parent's, so nesting grows them; 1,000 leaves room and keeps an id far
# below what a URL, a Kafka key or an index entry can hold.
MAX_ID_LENGTH = 1000

# Events in one execution's history. Past it the execution fails (HistoryLimitExceeded):
# every reader of its history (replay, the sink, `linkflow history`) pays for its length.
# Temporal's default is 51,200.
MAX_HISTORY_EVENTS = 50_000


def id_problem(value: str) -> str | None:
    """Why `value` cannot be an id (workflow, execution, idempotency key, signal name), or
    None when it can."""
    if len(value) > MAX_ID_LENGTH:
        return f"is {len(value)} characters long; at most {MAX_ID_LENGTH} are accepted"
    return None


def ids_problem(**ids: str | None) -> str | None:
    """ "<name> <why>" for the first of `ids` (name -> value; None: absent) that cannot be an
    id, or None when all can."""
    for name, value in ids.items():
        problem = None if value is None else id_problem(value)
        if problem is not None:
            return f"{name} {problem}"
    return None


def version_problem(value: object) -> str | None:
    """Why `value` cannot be a workflow version, or None when it can (None itself: the
    latest version)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        return f"is {value!r}; a version is an integer from 1 to {MAX_VERSION}"
    return None
