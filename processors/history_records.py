"""The history processor's records, without Faust: inputs read from the commands and results
topics, the execution state kept in the table, and the messages a decision sends.

Kept apart from `processors.history` so the translation between Kafka records and the pure
engine can be unit-tested without a broker.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    CancelChildWorkflow,
    Effect,
    EngineInput,
    ExecutionState,
    HistoryEvent,
    NotifyParent,
    StartChildWorkflow,
    TerminateChildWorkflow,
    input_from_dict,
)
from linkflow.model.catalog import PlanSource

# Sources an execution's inputs come from, as stored in its applied-offsets map.
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
    return inp


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str  # without the deployment's prefix
    key: bytes
    value: bytes

    def to_dict(self) -> dict[str, str]:
        return {
            "topic": self.topic,
            "key": base64.b64encode(self.key).decode(),
            "value": base64.b64encode(self.value).decode(),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, str]) -> Outgoing:
        return cls(raw["topic"], base64.b64decode(raw["key"]), base64.b64decode(raw["value"]))


@dataclass(slots=True)
class StoredExecution:
    """One table value: the engine state, plus what makes reprocessing safe.

    `applied` maps a source (commands, results) to the offset of the last record of it that
    was decided into this state: a record at or below it was already decided and its events
    already written. `now_ms` is the last decision's time; decision times never go back.
    `outbox` holds the records the state's last decisions send, stored in the same value
    as the state so that a state is never on disk without them; `outbox_batch` names the
    batch that wrote them (see `InFlight`).
    """

    state: ExecutionState
    applied: dict[str, int] = field(default_factory=dict)
    now_ms: int = 0
    outbox: list[Outgoing] = field(default_factory=list)
    outbox_batch: str = ""

    def already_applied(self, source: str, offset: int) -> bool:
        return offset <= self.applied.get(source, -1)

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "state": self.state.to_dict(),
                "applied": self.applied,
                "now_ms": self.now_ms,
                "outbox": [r.to_dict() for r in self.outbox],
                "outbox_batch": self.outbox_batch,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes, plans: PlanSource) -> StoredExecution:
        raw = json.loads(data)
        batch, outbox = _outbox(raw)
        return cls(
            state=ExecutionState.from_dict(raw["state"], plans),
            applied={str(k): int(v) for k, v in raw["applied"].items()},
            now_ms=int(raw["now_ms"]),
            outbox=outbox,
            outbox_batch=batch,
        )

    @staticmethod
    def outbox_of(data: bytes) -> tuple[str, list[Outgoing]]:
        """The batch and records of a stored value's outbox, without rebuilding the state."""
        return _outbox(json.loads(data))


def _outbox(raw: Mapping[str, Any]) -> tuple[str, list[Outgoing]]:
    # Values stored before outboxes existed have none.
    return str(raw.get("outbox_batch", "")), [Outgoing.from_dict(r) for r in raw.get("outbox", ())]


# Table keys of the in-flight markers; execution ids never start with a NUL byte.
IN_FLIGHT_PREFIX = b"\x00in-flight:"


def in_flight_key(partition: int) -> bytes:
    return IN_FLIGHT_PREFIX + str(partition).encode()


@dataclass(frozen=True, slots=True)
class InFlight:
    """The marker a batch writes to each table partition before its states: which
    executions of that partition it is about to store with an outbox. While the marker is
    in the table, the records of those outboxes may not have reached the broker; it is
    deleted once they have. A processor that finds one (after a crash) sends again the
    outboxes of the listed executions whose `outbox_batch` is the marker's batch: an
    execution still holding an older state was not stored by that batch and its inputs
    are decided again."""

    batch: str
    executions: tuple[str, ...]

    def to_bytes(self) -> bytes:
        return json.dumps({"batch": self.batch, "executions": list(self.executions)}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> InFlight:
        raw = json.loads(data)
        return cls(str(raw["batch"]), tuple(str(e) for e in raw["executions"]))


def outgoing(
    events: Iterable[HistoryEvent], effects: Iterable[Effect], now_ms: int
) -> list[Outgoing]:
    """The records a decision sends: its history events, then the messages its effects imply.

    Timers need no message: the timers processor reads TimerStarted/TimerCanceled from
    history. Cancelling a running activity attempt sends nothing either: the tasks topic has
    no cancel message yet, and the engine ignores the result of an attempt it cancelled.
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
            transport.task_topic(effect.task_queue),
            effect.execution_id.encode(),
            encode_task(message),
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
    "IN_FLIGHT_PREFIX",
    "RESULTS",
    "EncodeError",
    "InFlight",
    "Outgoing",
    "Rejected",
    "StoredExecution",
    "in_flight_key",
    "outgoing",
    "read_input",
]
