"""The commands the query service sends to executions, as encoded `linkflow.commands`
messages (schemas/commands.avsc). Pure builders: the caller passes the clock, and the
publisher puts the bytes on Kafka keyed by the execution id.

Ids follow the client SDK (`linkflow.client.ids`), so a start through the API and a start
through the SDK with the same idempotency key target the same execution.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linkflow.client.ids import execution_id_for
from linkflow.codec import encode_command


@dataclass(frozen=True, slots=True)
class Command:
    execution_id: str
    request_id: str
    input_type: str
    message: dict[str, Any]

    @property
    def key(self) -> bytes:
        return self.execution_id.encode()

    def encode(self) -> bytes:
        return encode_command(self.message)


def _command(
    execution_id: str,
    input_type: str,
    attributes: dict[str, Any],
    now_ms: int,
    workspace: str | None,
) -> Command:
    # The commands codec is flat: envelope and typed fields in one dict (docs/events.md).
    message = {
        "execution_id": execution_id,
        "sent_at_ms": now_ms,
        "input_type": input_type,
        "workspace": workspace,
        **attributes,
    }
    return Command(execution_id, attributes["request_id"], input_type, message)


def start_command(
    workflow_id: str,
    *,
    now_ms: int,
    input: Any = None,
    version: int | None = None,
    idempotency_key: str | None = None,
    search_attributes: Mapping[str, str] | None = None,
    workspace: str | None = None,
) -> Command:
    execution_id = execution_id_for(workflow_id, idempotency_key)
    # A repeated keyed start is the same request: the engine drops it as a duplicate even if
    # the first one is still in flight and no execution exists yet.
    request_id = str(uuid.uuid4()) if idempotency_key is None else f"start:{idempotency_key}"
    return _command(
        execution_id,
        "StartWorkflow",
        {
            "request_id": request_id,
            "workflow_id": workflow_id,
            "workflow_version": version,
            "input": input,
            "idempotency_key": idempotency_key,
            "parent_execution_id": None,
            "parent_node_id": None,
            "parent_scope": None,
            "search_attributes": dict(search_attributes or {}),
        },
        now_ms,
        workspace,
    )


def signal_command(
    execution_id: str, name: str, payload: Any, *, now_ms: int, workspace: str | None = None
) -> Command:
    return _command(
        execution_id,
        "SignalWorkflow",
        {"request_id": str(uuid.uuid4()), "signal_name": name, "payload": payload},
        now_ms,
        workspace,
    )


def cancel_command(
    execution_id: str, reason: str, identity: str, *, now_ms: int, workspace: str | None = None
) -> Command:
    return _command(
        execution_id,
        "CancelWorkflow",
        {"request_id": str(uuid.uuid4()), "reason": reason, "identity": identity},
        now_ms,
        workspace,
    )


def terminate_command(
    execution_id: str, reason: str, identity: str, *, now_ms: int, workspace: str | None = None
) -> Command:
    return _command(
        execution_id,
        "TerminateWorkflow",
        {"request_id": str(uuid.uuid4()), "reason": reason, "identity": identity},
        now_ms,
        workspace,
    )


def reset_command(
    execution_id: str,
    source_execution_id: str,
    event_id: int,
    history: list[dict[str, Any]],
    *,
    reason: str,
    identity: str,
    now_ms: int,
    workspace: str | None = None,
) -> Command:
    """A new run (`execution_id`) of `source_execution_id` from its event `event_id`;
    `history` is the source's events from 1 through the end of that event's decision."""
    return _command(
        execution_id,
        "ResetWorkflow",
        {
            "request_id": str(uuid.uuid4()),
            "source_execution_id": source_execution_id,
            "reset_event_id": event_id,
            "history": history,
            "reason": reason,
            "identity": identity,
        },
        now_ms,
        workspace,
    )
