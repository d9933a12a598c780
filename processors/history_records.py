"""The history processor's records, without Kafka: inputs read from the commands and results
topics, the execution state kept in the store, and the messages a decision sends.

Kept apart from `processors.history` so the translation between Kafka records and the pure
engine can be unit-tested without a broker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

from linkflow import transport
from linkflow.codec import (
    DecodeError,
    EncodeError,
    decode_command,
    decode_result,
    encode_command,
    encode_history,
    encode_result,
    encode_task,
)
from linkflow.engine import (
    ActivityTask,
    CancelActivityTask,
    CancelChildWorkflow,
    Effect,
    EngineInput,
    ExecutionState,
    HistoryEvent,
    NotifyParent,
    SignalWorkflow,
    StartChildWorkflow,
    StartWorkflow,
    TerminateChildWorkflow,
    input_from_dict,
)
from linkflow.model.catalog import PlanSource
from linkflow.model.limits import ids_problem, version_problem

# The input topics, as `read_input` names them.
COMMANDS = "commands"
RESULTS = "results"


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a record cannot be an engine input (it goes to the dead-letter topic)."""

    reason: str
    detail: str
    error_type: str = "DecodeError"


def read_input(source: str, key: bytes | None, value: bytes | None) -> EngineInput | Rejected:
    """The engine input a commands or results record carries, or why it carries none."""
    if not value:
        return Rejected("empty", "the record has no value")
    try:
        message = decode_command(value) if source == COMMANDS else decode_result(value)
    except DecodeError as exc:
        return Rejected(str(exc.reason), exc.detail)
    try:
        inp = input_from_dict(message)
    except (KeyError, TypeError, ValueError) as exc:
        return Rejected("invalid", f"not an engine input: {exc!r}", "InvalidInput")
    execution_id = inp.execution_id
    if not execution_id:
        return Rejected("invalid", "execution_id is empty", "InvalidInput")
    if key is None or key.decode(errors="replace") != execution_id:
        # The key picks the partition: a record keyed otherwise may sit on a partition that
        # does not own the execution, where its state is not.
        return Rejected(
            "wrong_key",
            f"record key {key!r} is not the execution id {execution_id!r}",
            "InvalidInput",
        )
    if isinstance(inp, StartWorkflow | SignalWorkflow):
        problem = _bounds_problem(inp)
        if problem is not None:
            return Rejected("invalid", problem, "InvalidInput")
    return inp


def _bounds_problem(inp: StartWorkflow | SignalWorkflow) -> str | None:
    """What in a start or signal is past the bounds of linkflow/model/limits.py. The API
    and the client check the same before sending; this catches what any other producer of
    the commands topic sends. A child's start is the history processor's own and its id
    grows with nesting: it is not refused here."""
    if isinstance(inp, SignalWorkflow):
        return ids_problem(execution_id=inp.execution_id, signal_name=inp.signal_name)
    if inp.parent_execution_id is not None:
        return None
    problem = version_problem(inp.workflow_version)
    if problem is not None:
        return f"workflow_version {problem}"
    return ids_problem(
        execution_id=inp.execution_id,
        workflow_id=inp.workflow_id,
        idempotency_key=inp.idempotency_key,
    )


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str  # without the deployment's prefix
    key: bytes
    value: bytes


# The first byte of a stored value says how the rest is encoded. msgpack is compact and
# fast; it cannot hold integers beyond 64 bits, which JSON inputs may carry, so such a
# state is stored as JSON instead.
_MSGPACK = b"M"
_JSON = b"J"


@dataclass(slots=True)
class StoredExecution:
    """One store value: the engine state and `now_ms`, the time of its last decision
    (decision times never go back, whatever the clocks of the inputs' producers say)."""

    state: ExecutionState
    now_ms: int = 0
    # The events decided into `state` by the batch in progress (for metrics once it
    # commits); not stored.
    events: list[HistoryEvent] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        raw = {"state": self.state.to_dict(), "now_ms": self.now_ms}
        try:
            return _MSGPACK + msgpack.packb(raw, use_bin_type=True)
        except OverflowError:
            return _JSON + json.dumps(raw, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, plans: PlanSource | None) -> StoredExecution:
        tag, body = data[:1], data[1:]
        if tag == _MSGPACK:
            raw = msgpack.unpackb(body, raw=False, strict_map_key=False)
        elif tag == _JSON:
            raw = json.loads(body)
        else:
            raise ValueError(f"unknown state encoding {tag!r}")
        return cls(ExecutionState.from_dict(raw["state"], plans), int(raw["now_ms"]))


def outgoing(
    events: Iterable[HistoryEvent], effects: Iterable[Effect], now_ms: int
) -> list[Outgoing]:
    """The records a decision sends: its history events, then the messages its effects imply.

    Timers need no message: the timers processor reads TimerStarted/TimerCanceled from
    history. A cancelled or timed-out attempt gets a CancelActivityTask on its task topic,
    under the execution's key like the task, so the worker that has it hears of it.
    """
    out = [
        Outgoing(transport.HISTORY, e.execution_id.encode(), encode_history(e.to_dict()))
        for e in events
    ]
    for effect in effects:
        record = _effect_record(effect, now_ms)
        if record is not None:
            out.append(record)
    return out


def _effect_record(effect: Effect, now_ms: int) -> Outgoing | None:
    if isinstance(effect, ActivityTask):
        message = {"task_type": "ActivityTask", **effect.to_dict()}
        return Outgoing(
            transport.task_topic(effect.task_queue, effect.high_priority),
            effect.execution_id.encode(),
            encode_task(message),
        )
    if isinstance(effect, CancelActivityTask):
        cancel = {
            "task_type": "CancelActivityTask",
            "execution_id": effect.execution_id,
            "activity_id": effect.activity_id,
            "attempt": effect.attempt,
            "reason": effect.reason,
        }
        return Outgoing(
            transport.task_topic(effect.task_queue, effect.high_priority),
            effect.execution_id.encode(),
            encode_task(cancel),
        )
    if isinstance(effect, StartChildWorkflow | CancelChildWorkflow | TerminateChildWorkflow):
        return _command(effect.command.to_dict(), now_ms)
    if isinstance(effect, NotifyParent):
        message = _sent(effect.outcome.to_dict(), now_ms)
        return Outgoing(
            transport.RESULTS, effect.outcome.execution_id.encode(), encode_result(message)
        )
    return None


def _command(message: Mapping[str, Any], now_ms: int) -> Outgoing:
    data = _sent(message, now_ms)
    return Outgoing(transport.COMMANDS, str(data["execution_id"]).encode(), encode_command(data))


def _sent(message: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    data = dict(message)
    data["sent_at_ms"] = now_ms
    return data


__all__ = [
    "COMMANDS",
    "RESULTS",
    "EncodeError",
    "Outgoing",
    "Rejected",
    "StoredExecution",
    "outgoing",
    "read_input",
]
