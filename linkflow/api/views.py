"""Database rows to the JSON objects the API documents (see openapi.py's components)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from linkflow.api.queries import Row


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    # Microseconds: the same precision as the database, so a value read back into a
    # started_after filter selects exactly what the reader saw.
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def execution_summary(row: Row) -> dict[str, Any]:
    return {
        "execution_id": row["execution_id"],
        "workflow_id": row["workflow_id"],
        "workflow_version": row["workflow_version"],
        "status": row["status"],
        "cancel_requested": row["cancel_requested"],
        "started_at": timestamp(row["started_at"]),
        "closed_at": timestamp(row["closed_at"]),
        "updated_at": timestamp(row["updated_at"]),
        "last_event_id": row["last_event_id"],
        "parent_execution_id": row["parent_execution_id"],
        "search_attributes": row["search_attributes"] or {},
        "workspace": row["workspace"],
    }


def node_view(row: Row) -> dict[str, Any]:
    view = dict(row)
    for key in ("scheduled_at", "started_at", "finished_at", "updated_at"):
        view[key] = timestamp(row[key])
    # What went in and came out, as JSON text: the data the node moved.
    view["bytes"] = sum(
        len(json.dumps(row[key], separators=(",", ":")).encode())
        for key in ("input", "output")
        if row[key] is not None
    )
    return view


def execution_detail(row: Row, nodes: list[Row]) -> dict[str, Any]:
    view = execution_summary(row)
    for key in (
        "input",
        "output",
        "error",
        "request_id",
        "parent_node_id",
        "parent_scope",
        "idempotency_key",
        "execution_timeout_ms",
        "close_reason",
        "new_execution_id",
    ):
        view[key] = row[key]
    view["nodes"] = [node_view(n) for n in nodes]
    view["cost"] = {
        "activity_ms": row["activity_ms"],
        "usage": row["usage"] or {},
        "attempts": sum(n["attempt"] for n in nodes if n["activity_id"] is not None),
        "bytes": sum(n["bytes"] for n in view["nodes"]),
    }
    return view


def event_view(row: Row) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "event_time": timestamp(row["event_time"]),
        "attributes": row["attributes"],
    }


def workflow_summary(row: Row) -> dict[str, Any]:
    return {
        "workflow_id": row["workflow_id"],
        "latest_version": row["latest_version"],
        "version_count": row["version_count"],
        "name": row["name"],
        "description": row["description"],
        "first_registered_at": timestamp(row["first_registered_at"]),
        "last_registered_at": timestamp(row["last_registered_at"]),
    }


def workflow_version(row: Row) -> dict[str, Any]:
    return {
        "version": row["version"],
        "registered_at": timestamp(row["registered_at"]),
        "definition": row["definition"],
    }
