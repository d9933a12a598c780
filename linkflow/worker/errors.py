"""How activity failures are described: handlers raise ActivityError; anything else is
classified here into the `Error` record the results schema carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Error types the worker itself reports (a node's retry policy may name them).
UNKNOWN_NODE_TYPE = "UnknownNodeType"
ACTIVITY_TIMEOUT = "ActivityTimeout"
RESULT_NOT_SERIALIZABLE = "ResultNotSerializable"
RESULT_REJECTED = "ResultRejected"
PAYLOAD_TOO_LARGE = "PayloadTooLarge"
INVALID_CONFIG = "InvalidConfig"


class ActivityError(Exception):
    """A handler's way to say how it failed.

    `type` is matched against a node's non-retryable error types; `retryable=False` skips
    the remaining attempts; `details` is JSON-serialisable data for the history and for
    error routing (e.g. an HTTP status and body).
    """

    def __init__(
        self, type: str, message: str, retryable: bool = True, details: Any = None
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.retryable = retryable
        self.details = details

    def __repr__(self) -> str:
        return (
            f"ActivityError(type={self.type!r}, message={self.message!r}, "
            f"retryable={self.retryable!r}, details={self.details!r})"
        )


@dataclass(frozen=True)
class ErrorInfo:
    """One failure, as reported in ActivityFailed."""

    type: str
    message: str
    retryable: bool = True
    details: Any = None

    def record(self, node_id: str | None) -> dict[str, Any]:
        """The Avro `Error` record."""
        return {
            "type": self.type,
            "message": self.message,
            "retryable": self.retryable,
            "node_id": node_id,
            "details": self.details,
        }


def classify(exc: BaseException) -> ErrorInfo:
    """The ErrorInfo for an exception a handler raised.

    ActivityError says it all; any other exception is assumed transient (retryable) and
    named by its class, so a retry policy can still list it as non-retryable.
    """
    if isinstance(exc, ActivityError):
        return ErrorInfo(exc.type, exc.message, exc.retryable, exc.details)
    message = str(exc) or type(exc).__name__
    return ErrorInfo(type(exc).__name__, message, True, None)


def unknown_node_type(node_type: str, known: list[str]) -> ErrorInfo:
    return ErrorInfo(
        UNKNOWN_NODE_TYPE,
        f"no handler for node type {node_type!r} on this worker",
        False,
        {"node_type": node_type, "known": known},
    )


def start_to_close_timeout(timeout_ms: int) -> ErrorInfo:
    return ErrorInfo(
        ACTIVITY_TIMEOUT,
        f"activity did not finish within its start-to-close timeout of {timeout_ms} ms",
        True,
        {"timeout_type": "start_to_close", "timeout_ms": timeout_ms},
    )
