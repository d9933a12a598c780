"""Identifiers derived from the execution, never random: replaying or re-deciding the same
input gives the same ids."""

from __future__ import annotations


def scope_key(parent: str, loop_node: str, index: int) -> str:
    segment = f"{loop_node}[{index}]"
    return f"{parent}/{segment}" if parent else segment


def activity_id(node_id: str, scope: str) -> str:
    """Stable across attempts of one node instance (a node runs once per scope); the attempt
    number tells attempts apart."""
    return f"{node_id}@{scope}" if scope else node_id


def timer_id(event_id: int) -> str:
    """Named after the TimerStarted event that starts it, so unique within the execution."""
    return f"t{event_id}"


def child_execution_id(execution_id: str, node_id: str, event_id: int) -> str:
    return f"{execution_id}/{node_id}-{event_id}"


def child_request_id(execution_id: str, event_id: int) -> str:
    return f"{execution_id}#{event_id}"
