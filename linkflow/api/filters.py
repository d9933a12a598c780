"""The filter of `GET /v1/executions`, parsed from the query string into a value object
that the SQL builder turns into a keyset query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from linkflow.api.errors import bad_parameter
from linkflow.api.pagination import ORDERS, Cursor, decode_cursor
from linkflow.api.params import (
    Query,
    choice_param,
    int_param,
    list_param,
    reject_unknown,
    single,
    time_param,
)

# The `status` values of the executions table (connect/migrations/001_visibility.sql).
STATUSES = (
    "running",
    "completed",
    "failed",
    "timed_out",
    "canceled",
    "terminated",
    "continued_as_new",
)
TERMINAL_STATUSES = frozenset(STATUSES) - {"running"}

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
SA_PREFIX = "sa."
LIST_PARAMETERS = (
    "status",
    "workflow_id",
    "parent_execution_id",
    "started_after",
    "started_before",
    "order",
    "limit",
    "cursor",
)


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    statuses: tuple[str, ...] = ()
    workflow_ids: tuple[str, ...] = ()
    parent_execution_id: str | None = None
    started_after: datetime | None = None  # inclusive
    # Exclusive, so consecutive windows never overlap; an empty window selects nothing.
    started_before: datetime | None = None
    search_attributes: dict[str, str] = field(default_factory=dict)
    order: str = "desc"
    limit: int = DEFAULT_LIMIT
    cursor: Cursor | None = None


def parse_execution_filter(query: Query) -> ExecutionFilter:
    reject_unknown(query, LIST_PARAMETERS, prefixes=(SA_PREFIX,))
    order = choice_param(query, "order", ORDERS, "desc")
    started_after = time_param(query, "started_after")
    started_before = time_param(query, "started_before")
    attributes: dict[str, str] = {}
    for name in query:
        if not name.startswith(SA_PREFIX) or name in attributes:
            continue
        key = name[len(SA_PREFIX) :]
        if not key:
            raise bad_parameter(name, "search attribute name missing (use sa.<name>=<value>)")
        value = single(query, name)
        assert value is not None
        attributes[key] = value
    cursor_text = single(query, "cursor")
    parent = single(query, "parent_execution_id")
    if parent == "":
        raise bad_parameter("parent_execution_id", "empty value")
    return ExecutionFilter(
        statuses=list_param(query, "status", STATUSES, split_commas=True),
        workflow_ids=list_param(query, "workflow_id"),
        parent_execution_id=parent,
        started_after=started_after,
        started_before=started_before,
        search_attributes=attributes,
        order=order,
        limit=int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        cursor=decode_cursor(cursor_text, order) if cursor_text else None,
    )
