"""A synchronous client over confluent-kafka; safe to call from worker threads."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from linkflow import settings, transport
from linkflow.client.ids import execution_id_for, partition_for
from linkflow.codec import decode_history, encode_command, encode_definition
from linkflow.model.limits import ids_problem, version_problem
from linkflow.model.workspaces import DEFAULT_WORKSPACE

log = logging.getLogger(__name__)

TERMINAL_EVENTS = {
    "WorkflowExecutionCompleted": "completed",
    "WorkflowExecutionFailed": "failed",
    "WorkflowExecutionTimedOut": "timed_out",
    "WorkflowExecutionCanceled": "canceled",
    "WorkflowExecutionTerminated": "terminated",
    "WorkflowExecutionContinuedAsNew": "continued_as_new",
}


def _check_ids(**ids: str | None) -> None:
    """ValueError naming the first of `ids` past linkflow/model/limits.py's bound: the
    history processor would dead-letter the command."""
    problem = ids_problem(**ids)
    if problem is not None:
        raise ValueError(problem)


def _check_version(version: int | None) -> None:
    problem = version_problem(version)
    if problem is not None:
        raise ValueError(f"version {problem}")


class WaitTimeout(TimeoutError):
    """The execution did not reach a terminal event within the deadline."""


@dataclass
class Outcome:
    execution_id: str
    status: str
    output: Any = None
    error: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Client:
    def __init__(
        self,
        bootstrap_servers: str | None = None,
        identity: str = "linkflow-client",
        *,
        topic_prefix: str = "",
        workspace: str | None = None,
    ):
        self.bootstrap = bootstrap_servers or settings.kafka_bootstrap()
        self.identity = identity
        # The workspace this client acts in: what it registers and starts belongs to it, and
        # its other commands reach only that workspace's executions (None: "default", and
        # commands unchecked).
        self.workspace = workspace
        # Prepended to every linkflow.* topic, as `linkflow topics apply --prefix` does.
        self.topic_prefix = topic_prefix
        self._history_topic = topic_prefix + transport.HISTORY
        self._producer = Producer(transport.producer_config(self.bootstrap))
        self._partitions: dict[str, int] = {}
        self._started_at: dict[str, int] = {}

    # -- definitions -----------------------------------------------------------------
    def register(self, definition: Mapping[str, Any] | str | Path) -> tuple[str, int]:
        """Validate and publish a definition; raises linkflow.model.DefinitionError."""
        from linkflow.model import DefinitionError, decode_document, load_definition
        from linkflow.queues import missing_task_queues
        from linkflow.worker.registry import installed_node_types

        if isinstance(definition, Path):
            doc = decode_document(definition.read_text())
        elif isinstance(definition, str):
            doc = decode_document(definition)
        else:
            doc = dict(definition)
        # Raises with every problem named; node types of installed plugins are known.
        parsed = load_definition(doc, installed_node_types())
        topics = set(self._producer.list_topics(timeout=10).topics)
        missing = missing_task_queues(parsed, topics, self.topic_prefix)
        if missing:
            raise DefinitionError(missing, parsed.id)
        record = {
            "definition_type": "WorkflowDefinition",
            "id": parsed.id,
            "version": parsed.version,
            "definition": doc,
            "registered_at_ms": _now_ms(),
            "workspace": self.workspace or DEFAULT_WORKSPACE,
        }
        self._send(
            self.topic_prefix + transport.DEFINITIONS,
            f"{parsed.id}:{parsed.version}",
            encode_definition(record),
        )
        self.flush()
        return parsed.id, parsed.version

    # -- commands --------------------------------------------------------------------
    def start(
        self,
        workflow_id: str,
        input: Any = None,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        execution_id: str | None = None,
        search_attributes: Mapping[str, str] | None = None,
        flush: bool = True,
    ) -> str:
        transport.check_payload("input", input)  # refused here, before anything is sent
        _check_ids(workflow_id=workflow_id, idempotency_key=idempotency_key)
        _check_version(version)
        execution_id = execution_id or execution_id_for(workflow_id, idempotency_key)
        _check_ids(execution_id=execution_id)
        self._started_at.setdefault(execution_id, _now_ms())
        self._command(
            execution_id,
            "StartWorkflow",
            {
                "request_id": str(uuid.uuid4())
                if idempotency_key is None
                else f"start:{idempotency_key}",
                "workflow_id": workflow_id,
                "workflow_version": version,
                "input": input,
                "idempotency_key": idempotency_key,
                "parent_execution_id": None,
                "parent_node_id": None,
                "parent_scope": None,
                "search_attributes": dict(search_attributes or {}),
            },
            flush,
        )
        return execution_id

    def signal(self, execution_id: str, name: str, payload: Any = None) -> None:
        transport.check_payload("payload", payload)
        _check_ids(execution_id=execution_id, name=name)
        self._command(
            execution_id,
            "SignalWorkflow",
            {"request_id": str(uuid.uuid4()), "signal_name": name, "payload": payload},
            True,
        )

    def cancel(self, execution_id: str, reason: str = "") -> None:
        self._command(
            execution_id,
            "CancelWorkflow",
            {"request_id": str(uuid.uuid4()), "reason": reason, "identity": self.identity},
            True,
        )

    def terminate(self, execution_id: str, reason: str = "") -> None:
        self._command(
            execution_id,
            "TerminateWorkflow",
            {"request_id": str(uuid.uuid4()), "reason": reason, "identity": self.identity},
            True,
        )

    def _command(
        self, execution_id: str, kind: str, attributes: dict[str, Any], flush: bool
    ) -> None:
        message = {
            "execution_id": execution_id,
            "sent_at_ms": _now_ms(),
            "input_type": kind,
            "workspace": self.workspace,
            **attributes,
        }
        self._send(self.topic_prefix + transport.COMMANDS, execution_id, encode_command(message))
        if flush:
            self.flush()

    def _send(self, topic: str, key: str, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(topic, key=key.encode(), value=value)
                return
            except BufferError:
                self._producer.poll(0.1)  # local queue full: let deliveries drain

    def flush(self, timeout: float = 30.0) -> None:
        if self._producer.flush(timeout):
            raise KafkaException(f"{len(self._producer)} message(s) not delivered in {timeout} s")

    # -- reading history -------------------------------------------------------------
    def _history_partition(self, execution_id: str) -> int:
        if self._history_topic not in self._partitions:
            meta = self._producer.list_topics(self._history_topic, timeout=10)
            self._partitions[self._history_topic] = len(meta.topics[self._history_topic].partitions)
        return partition_for(execution_id, self._partitions[self._history_topic])

    def history(
        self, execution_id: str, timeout: float = 30.0, until_terminal: bool = False
    ) -> list[dict[str, Any]]:
        """The execution's events in order, read from its history partition.

        Duplicates of an event (a processor may re-send one after a crash) are identical by
        construction and collapse to one; a differing duplicate is a bug and raises.
        """
        partition = self._history_partition(execution_id)
        consumer = Consumer(
            transport.consumer_config(
                self.bootstrap,
                f"linkflow-client-{uuid.uuid4().hex}",
                **{"enable.partition.eof": True},
            )
        )
        start_ms = self._started_at.get(execution_id)
        tp = TopicPartition(self._history_topic, partition, 0)
        if start_ms is not None:
            try:
                found = consumer.offsets_for_times(
                    [TopicPartition(self._history_topic, partition, start_ms - 60_000)],
                    timeout=10,
                )
            except KafkaException as exc:
                # A fresh client may not know the partition's leader yet: the lookup only
                # saves reading from the start, which is always correct.
                log.debug("offsets_for_times failed (%s): reading from the start", exc)
                found = []
            if found and found[0].offset >= 0:
                tp = found[0]
        consumer.assign([tp])
        events: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() == -191 and not until_terminal:  # partition EOF
                        break
                    continue
                if msg.key() != execution_id.encode():
                    continue
                event = decode_history(msg.value())
                seen = events.get(event["event_id"])
                if seen is not None and seen != event:
                    raise AssertionError(
                        f"two different events with id {event['event_id']} "
                        f"in {execution_id}:\n{seen}\n{event}"
                    )
                events[event["event_id"]] = event
                if until_terminal and event["event_type"] in TERMINAL_EVENTS:
                    break
            else:
                if until_terminal:
                    raise WaitTimeout(f"execution {execution_id} did not finish within {timeout} s")
        finally:
            consumer.close()
        return [events[k] for k in sorted(events)]

    def wait(self, execution_id: str, timeout: float = 60.0) -> Outcome:
        events = self.history(execution_id, timeout=timeout, until_terminal=True)
        last = events[-1]
        attrs = last["attributes"]
        return Outcome(
            execution_id,
            TERMINAL_EVENTS[last["event_type"]],
            output=attrs.get("output"),
            error=attrs.get("error"),
            events=events,
        )

    def close(self) -> None:
        self._producer.flush(10)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
