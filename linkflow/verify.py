"""`linkflow verify`: checks that no execution was lost or doubled, from what is on Kafka.

Reads `linkflow.commands`, `linkflow.history` and `linkflow.dlq` from the beginning to their
current end, as a `read_committed` consumer (what every LinkFlow reader sees), and reports,
in the manner of Kafka's `streams_eos_test` and Jepsen's queue checker:

- accepted: executions with a StartWorkflow command (or the ids given);
- terminal: executions with a terminal history event;
- lost: accepted executions with no terminal event;
- duplicated: (execution id, event id) pairs seen more than once (even identical copies);
- gaps: executions whose event ids are not 1..n;
- multi_terminal: executions with more than one terminal event;
- double_results: an activity attempt completed or failed twice in one history;
- dead letters, counted by reason;
- with a database URL: PostgreSQL rows (execution status and last event id, node statuses)
  that differ from the fold of history, once the sink had time to catch up.

Nothing here knows about processes: the chaos tests call `check` after their faults, and an
operator can run `linkflow verify` against a live deployment (executions still running
count as lost there, so use it once the load has drained).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from linkflow import transport
from linkflow.codec import DecodeError, decode_command, decode_history
from linkflow.dlq import read_dead_letter_headers
from linkflow.engine import TERMINAL_EVENT_TYPES

_RESULT_EVENTS = frozenset({"ActivityTaskCompleted", "ActivityTaskFailed"})


@dataclass
class Report:
    accepted: set[str] = field(default_factory=set)
    terminal: set[str] = field(default_factory=set)
    history_records: int = 0
    duplicated: list[tuple[str, int]] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    multi_terminal: list[str] = field(default_factory=list)
    double_results: list[tuple[str, str, int]] = field(default_factory=list)
    undecodable: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    # With a database: PostgreSQL rows that differ from the fold of history (None: not
    # compared).
    mismatched_rows: list[tuple[str, str]] | None = None

    @property
    def lost(self) -> list[str]:
        return sorted(self.accepted - self.terminal)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.duplicated
            or self.gaps
            or self.multi_terminal
            or self.double_results
            or self.undecodable
            or self.mismatched_rows
        )

    def table(self) -> str:
        rows = [
            ("accepted starts", len(self.accepted)),
            ("terminal executions", len(self.terminal)),
            ("history records", self.history_records),
            ("lost", len(self.lost)),
            ("duplicated events", len(self.duplicated)),
            ("gaps in event ids", len(self.gaps)),
            ("more than one terminal event", len(self.multi_terminal)),
            ("activity results applied twice", len(self.double_results)),
            ("undecodable history records", self.undecodable),
            ("dead letters", sum(self.dead_letters.values())),
        ]
        if self.mismatched_rows is not None:
            rows.insert(-1, ("PostgreSQL rows unlike history", len(self.mismatched_rows)))
        rows += [(f"  {reason}", n) for reason, n in sorted(self.dead_letters.items())]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value:>8}" for name, value in rows]
        for label, items in (
            ("lost", self.lost),
            ("duplicated", self.duplicated),
            ("gaps", self.gaps),
            ("more than one terminal", self.multi_terminal),
            ("results applied twice", self.double_results),
            ("PostgreSQL unlike history", self.mismatched_rows or []),
        ):
            if items:
                lines.append(f"{label} (first 5): {list(items)[:5]}")
        return "\n".join(lines)


def check(
    bootstrap: str,
    *,
    topic_prefix: str = "",
    accepted: Iterable[str] | None = None,
    timeout: float = 120.0,
    database_url: str | None = None,
) -> Report:
    """Read the topics to their end and check them (see the module docstring). `accepted`
    replaces the StartWorkflow commands as the executions that must have ended. With
    `database_url`, PostgreSQL's visibility rows are compared with history too
    (`linkflow.verify_postgres`)."""
    report = Report()
    if accepted is None:
        for msg in read_to_end(bootstrap, topic_prefix + transport.COMMANDS, timeout):
            try:
                command = decode_command(msg.value() or b"")
            except DecodeError:
                continue
            if command.get("input_type") == "StartWorkflow":
                report.accepted.add(str(command["execution_id"]))
    else:
        report.accepted = set(accepted)

    seen: dict[str, list[tuple[int, str, dict[str, object]]]] = defaultdict(list)
    whole: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for msg in read_to_end(bootstrap, topic_prefix + transport.HISTORY, timeout):
        report.history_records += 1
        try:
            event = decode_history(msg.value() or b"")
        except DecodeError:
            report.undecodable += 1
            continue
        attributes = event.get("attributes") or {}
        seen[event["execution_id"]].append((event["event_id"], event["event_type"], attributes))
        if database_url is not None:
            whole[event["execution_id"]][int(event["event_id"])] = event

    for execution_id, events in seen.items():
        ids = [event_id for event_id, _, _ in events]
        counts = Counter(ids)
        report.duplicated += [(execution_id, i) for i, n in sorted(counts.items()) if n > 1]
        if sorted(counts) != list(range(1, len(counts) + 1)):
            report.gaps.append(execution_id)
        terminal = {i for i, event_type, _ in events if event_type in TERMINAL_EVENT_TYPES}
        if terminal:
            report.terminal.add(execution_id)
        if len(terminal) > 1:
            report.multi_terminal.append(execution_id)
        results: Counter[tuple[str, int]] = Counter()
        for _, event_type, attributes in {e[0]: e for e in events}.values():
            if event_type in _RESULT_EVENTS:
                key = (str(attributes.get("activity_id")), int(str(attributes.get("attempt", 0))))
                results[key] += 1
        report.double_results += [(execution_id, a, n) for (a, n), c in results.items() if c > 1]

    for msg in read_to_end(bootstrap, topic_prefix + transport.DLQ, timeout):
        report.dead_letters[read_dead_letter_headers(msg.headers()).reason or "?"] += 1
    if database_url is not None:
        from linkflow.verify_postgres import compare

        histories = {e: list(by_id.values()) for e, by_id in whole.items()}
        report.mismatched_rows = compare(database_url, histories)
    return report


def read_to_end(bootstrap: str, topic: str, timeout: float = 120.0) -> Iterator[Message]:
    """Every committed record of `topic`, from the beginning to its end as of the call."""
    consumer = Consumer(
        transport.consumer_config(
            bootstrap,
            f"linkflow-verify-{uuid.uuid4().hex}",
            **{"enable.partition.eof": True},
        )
    )
    try:
        meta = consumer.list_topics(topic, timeout=30).topics.get(topic)
        if meta is None or meta.error is not None:
            raise RuntimeError(f"topic {topic} is missing")
        partitions = sorted(meta.partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        open_partitions = set(partitions)
        deadline = time.monotonic() + timeout
        while open_partitions:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its end within {timeout}s")
            for msg in transport.fetched(consumer, 10_000, 0.5):
                error = msg.error()
                if error is None:
                    yield msg
                elif error.code() == KafkaError._PARTITION_EOF:
                    open_partitions.discard(msg.partition())
    finally:
        consumer.close()
