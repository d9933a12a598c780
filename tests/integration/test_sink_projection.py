"""The visibility sink projects history into PostgreSQL correctly, idempotently, and sends
what it cannot read to the dead-letter topic (real Kafka, real PostgreSQL)."""

from __future__ import annotations

from typing import Any

from test_sink_support import (
    History,
    consume_all,
    create_topic,
    database,
    error,
    metric,
    produce,
    simple_history,
    sink_thread,
    unique,
    wait_until,
)

from connect.sink import SinkConfig
from linkflow.codec import encode_history


def _config(kafka: str, db_url: str, topic: str, **kw: Any) -> SinkConfig:
    kw.setdefault("group", unique("test-sink"))
    kw.setdefault("dlq_topic", create_topic(kafka, "test.sink.dlq", partitions=1))
    return SinkConfig(kafka, db_url, topic=topic, poll_timeout=0.2, max_backoff=2.0, **kw)


def _histories(prefix: str) -> dict[str, History]:
    done = simple_history(f"{prefix}-done", activities=1)

    # An activity that fails once, is retried and succeeds; a branch skipped by a condition.
    retried = History(f"{prefix}-retried").started("payments", tier="gold")
    retried.scheduled("charge")
    retried.add("ActivityTaskStarted", activity_id="charge", attempt=1, identity="w1")
    retried.add("ActivityTaskFailed", activity_id="charge", attempt=1, error=error("503"))
    retried.add(
        "TimerStarted",
        timer_id="t5",
        fire_at_ms=0,
        purpose="retry_backoff",
        node_id="charge",
        scope="",
    )
    retried.add("TimerFired", timer_id="t5")
    retried.scheduled("charge", attempt=2)
    retried.add("ActivityTaskStarted", activity_id="charge", attempt=2, identity="w2")
    retried.add("ActivityTaskCompleted", activity_id="charge", attempt=2, result={"paid": 1})
    retried.add("NodeCompleted", node_id="charge", scope="", output={"paid": 1}, handle="success")
    retried.add("NodeCompleted", node_id="big", scope="", output=False, handle="false")
    retried.add("NodeSkipped", node_id="vip", scope="")
    retried.add("WorkflowExecutionCompleted", output={"paid": 1})

    failed = History(f"{prefix}-failed").started()
    failed.scheduled("fetch", attempt=3)
    failed.add("ActivityTaskFailed", activity_id="fetch", attempt=3, error=error("gone"))
    failed.add("NodeFailed", node_id="fetch", scope="", error=error("gone"), routed=False)
    failed.add("WorkflowExecutionFailed", error=error("fetch failed"))

    running = History(f"{prefix}-running").started()
    running.scheduled("slow")
    running.add("ActivityTaskStarted", activity_id="slow", attempt=1, identity="w")
    return {"done": done, "retried": retried, "failed": failed, "running": running}


def _all_events(histories: dict[str, History]) -> list[dict[str, Any]]:
    return [e for h in histories.values() for e in h.events]


def _snapshot(db: Any, prefix: str) -> tuple[list[Any], list[Any], list[Any]]:
    like = prefix + "%"
    return (
        db.rows("SELECT * FROM executions WHERE execution_id LIKE %s ORDER BY 1", like),
        db.rows("SELECT * FROM node_executions WHERE execution_id LIKE %s ORDER BY 1, 2, 3", like),
        db.rows("SELECT * FROM history_events WHERE execution_id LIKE %s ORDER BY 1, 2", like),
    )


def test_projects_executions_nodes_and_events(kafka_bootstrap: str, database_url: str) -> None:
    topic = create_topic(kafka_bootstrap)
    prefix = unique("proj")
    histories = _histories(prefix)
    total = produce(kafka_bootstrap, topic, _all_events(histories))
    config = _config(kafka_bootstrap, database_url, topic)
    events_before = metric("linkflow_sink_events_total")

    with database(database_url) as db, sink_thread(config):
        wait_until(lambda: db.events_count(prefix) == total, 60, "all events in postgres")
        wait_until(
            lambda: (
                db.one(
                    "SELECT count(*) FROM executions WHERE execution_id LIKE %s "
                    "AND last_event_id > 0",
                    prefix + "%",
                )
                == 4
            ),
            30,
            "four executions",
        )
        # The lag gauge is exported for every partition the sink owns and reaches zero.
        wait_until(
            lambda: all(
                metric("linkflow_sink_lag_messages", {"topic": topic, "partition": str(p)}) == 0
                and metric(
                    "linkflow_consumer_lag_messages",
                    {"group": config.group, "topic": topic, "partition": str(p)},
                )
                == 0
                for p in range(3)
            ),
            30,
            "lag 0",
        )

        status = dict(
            db.rows(
                "SELECT execution_id, status FROM executions WHERE execution_id LIKE %s",
                prefix + "%",
            )
        )
        assert status == {
            f"{prefix}-done": "completed",
            f"{prefix}-retried": "completed",
            f"{prefix}-failed": "failed",
            f"{prefix}-running": "running",
        }
        row = db.rows(
            "SELECT workflow_id, workflow_version, input, output, closed_at IS NOT NULL, "
            "last_event_id, search_attributes, request_id FROM executions "
            "WHERE execution_id = %s",
            f"{prefix}-retried",
        )[0]
        assert row == (
            "payments",
            1,
            {"n": 1},
            {"paid": 1},
            True,
            len(histories["retried"].events),
            {"tier": "gold"},
            f"req-{prefix}-retried",
        )
        assert (
            db.one("SELECT error FROM executions WHERE execution_id = %s", f"{prefix}-failed")[
                "message"
            ]
            == "fetch failed"
        )
        running = db.rows(
            "SELECT status, closed_at, output FROM executions WHERE execution_id = %s",
            f"{prefix}-running",
        )[0]
        assert running == ("running", None, None)

        nodes = {
            (r[0].removeprefix(prefix + "-"), r[1]): r[2:]
            for r in db.rows(
                "SELECT execution_id, node_id, status, attempt, output, error->>'message' "
                "FROM node_executions WHERE execution_id LIKE %s",
                prefix + "%",
            )
        }
        assert nodes == {
            ("done", "step0"): ("completed", 1, {"i": 0}, None),
            ("retried", "charge"): ("completed", 2, {"paid": 1}, "503"),
            ("retried", "big"): ("completed", 0, False, None),
            ("retried", "vip"): ("skipped", 0, None, None),
            ("failed", "fetch"): ("failed", 3, None, "gone"),
            ("running", "slow"): ("running", 1, None, None),
        }
        # History keeps the attributes, with JSON payloads inline.
        attrs = db.one(
            "SELECT attributes FROM history_events WHERE execution_id = %s AND event_id = 1",
            f"{prefix}-retried",
        )
        assert attrs["search_attributes"] == {"tier": "gold"} and attrs["input"] == {"n": 1}
        # The stored offsets cover every record.
        stored = db.one(
            "SELECT sum(next_offset) FROM sink_offsets WHERE consumer_group = %s", config.group
        )
        assert stored == total
    assert metric("linkflow_sink_events_total") - events_before >= total


def test_replay_after_offset_reset_changes_nothing(kafka_bootstrap: str, database_url: str) -> None:
    topic = create_topic(kafka_bootstrap)
    prefix = unique("replay")
    histories = _histories(prefix)
    total = produce(kafka_bootstrap, topic, _all_events(histories))
    config = _config(kafka_bootstrap, database_url, topic)

    with database(database_url) as db:
        with sink_thread(config):
            wait_until(lambda: db.events_count(prefix) == total, 60, "all events")
            wait_until(
                lambda: (
                    db.one(
                        "SELECT sum(next_offset) FROM sink_offsets WHERE consumer_group = %s",
                        config.group,
                    )
                    == total
                ),
                30,
                "offsets stored",
            )
        before = _snapshot(db, prefix)
        offsets = db.rows(
            "SELECT partition, next_offset FROM sink_offsets WHERE consumer_group = %s ORDER BY 1",
            config.group,
        )

        # Reset while stopped: the next run reads everything again from the beginning.
        db.conn.execute("DELETE FROM sink_offsets WHERE consumer_group = %s", (config.group,))
        with sink_thread(config):
            wait_until(
                lambda: (
                    db.rows(
                        "SELECT partition, next_offset FROM sink_offsets "
                        "WHERE consumer_group = %s ORDER BY 1",
                        config.group,
                    )
                    == offsets
                ),
                60,
                "the replay to catch up",
            )
            assert _snapshot(db, prefix) == before

            # Reset under a running sink: its next write to a partition is fenced, and it
            # replays that partition from the (now absent) stored offset, changing nothing.
            extra = History(f"{prefix}-late").started()
            db.conn.execute("DELETE FROM sink_offsets WHERE consumer_group = %s", (config.group,))
            produce(kafka_bootstrap, topic, extra.events)
            previous = dict(offsets)

            def late_partition_caught_up() -> bool:
                rows = db.rows(
                    "SELECT partition, next_offset FROM sink_offsets WHERE consumer_group = %s",
                    config.group,
                )
                return len(rows) == 1 and rows[0][1] == previous.get(rows[0][0], 0) + 1

            wait_until(late_partition_caught_up, 60, "the live replay to catch up")
        after = _snapshot(db, prefix)
        late = f"{prefix}-late"
        assert [r for r in after[0] if r[0] != late] == before[0]
        assert after[1] == before[1]
        assert [r for r in after[2] if r[0] != late] == before[2]
        assert db.one("SELECT status FROM executions WHERE execution_id = %s", late) == "running"


def test_undecodable_records_go_to_the_dlq(kafka_bootstrap: str, database_url: str) -> None:
    topic = create_topic(kafka_bootstrap, partitions=1)
    prefix = unique("dlq")
    good = simple_history(f"{prefix}-a", activities=1)
    key = good.execution_id.encode()
    records: list[Any] = [
        *good.events[:3],
        (key, b"\xc3\x01not really avro"),
        (key, b"garbage"),
        *good.events[3:],
    ]
    produce(kafka_bootstrap, topic, records)
    config = _config(kafka_bootstrap, database_url, topic)
    before = metric(
        "linkflow_dead_letters_total", {"source": "visibility-sink", "reason": "bad_marker"}
    )

    with database(database_url) as db, sink_thread(config):
        wait_until(
            lambda: (
                db.one("SELECT status FROM executions WHERE execution_id = %s", good.execution_id)
                == "completed"
            ),
            60,
            "the execution to complete",
        )
        assert db.events_count(prefix) == len(good.events)
        wait_until(
            lambda: (
                db.one(
                    "SELECT next_offset FROM sink_offsets WHERE consumer_group = %s", config.group
                )
                == len(records)
            ),
            30,
            "offsets past the bad records",
        )

    letters = consume_all(kafka_bootstrap, config.dlq_topic, 2)
    assert [m.value() for m in letters] == [b"\xc3\x01not really avro", b"garbage"]
    headers = [dict(m.headers() or []) for m in letters]
    assert [h["linkflow.dlq.offset"] for h in headers] == [b"3", b"4"]
    assert all(h["linkflow.dlq.topic"] == topic.encode() for h in headers)
    assert all(h["linkflow.dlq.partition"] == b"0" for h in headers)
    assert headers[1]["linkflow.dlq.reason"] == b"bad_marker"
    assert all(h["linkflow.dlq.error_type"] == b"DecodeError" for h in headers)
    assert letters[0].key() == key
    assert (
        metric("linkflow_dead_letters_total", {"source": "visibility-sink", "reason": "bad_marker"})
        - before
        >= 1
    )


def test_a_record_the_database_refuses_is_isolated(kafka_bootstrap: str, database_url: str) -> None:
    """PostgreSQL text cannot hold NUL: such an event decodes fine but cannot be written. It
    alone goes to the DLQ; the events around it in the same batch are projected."""
    topic = create_topic(kafka_bootstrap, partitions=1)
    prefix = unique("poison")
    before = simple_history(f"{prefix}-before", activities=2)
    after = simple_history(f"{prefix}-after", activities=2)
    poison = History(f"{prefix}-bad\x00id").started()
    records = [*before.events, *poison.events, *after.events]
    produce(kafka_bootstrap, topic, records)
    config = _config(kafka_bootstrap, database_url, topic)

    with database(database_url) as db, sink_thread(config):
        wait_until(
            lambda: (
                db.one(
                    "SELECT next_offset FROM sink_offsets WHERE consumer_group = %s", config.group
                )
                == len(records)
            ),
            60,
            "every record consumed",
        )
        assert db.events_count(prefix) == len(before.events) + len(after.events)
        assert db.rows(
            "SELECT status FROM executions WHERE execution_id LIKE %s", prefix + "%"
        ) == [("completed",), ("completed",)]

    letters = consume_all(kafka_bootstrap, config.dlq_topic, 1)
    assert [m.value() for m in letters] == [encode_history(poison.events[0])]
    headers = dict(letters[0].headers() or [])
    assert headers["linkflow.dlq.reason"] == b"unprojectable"
    assert headers["linkflow.dlq.offset"] == str(len(before.events)).encode()


def test_nodes_open_when_the_execution_is_canceled_show_canceled(
    kafka_bootstrap: str, database_url: str
) -> None:
    """The waiting node's row was written by an earlier batch: the batch that closes the
    execution loads it from PostgreSQL and closes it too."""
    topic = create_topic(kafka_bootstrap)
    prefix = unique("closing")
    h = History(f"{prefix}-e").started()
    h.add(
        "MarkerRecorded",
        marker_name="signal_wait_started",
        details={"node_id": "approve", "scope": "", "signal_name": "ok"},
    )
    h.scheduled("slow")
    opening = list(h.events)
    closing = h.add("WorkflowExecutionCanceled", reason="stop").events[len(opening) :]
    node_sql = (
        "SELECT node_id, status, finished_at IS NOT NULL FROM node_executions "
        "WHERE execution_id = %s ORDER BY node_id"
    )
    with database(database_url) as db, sink_thread(_config(kafka_bootstrap, database_url, topic)):
        produce(kafka_bootstrap, topic, opening)
        wait_until(
            lambda: (
                db.rows(node_sql, h.execution_id)
                == [("approve", "running", False), ("slow", "scheduled", False)]
            ),
            60,
            "the open nodes",
        )
        produce(kafka_bootstrap, topic, closing)
        wait_until(
            lambda: (
                db.rows(node_sql, h.execution_id)
                == [("approve", "canceled", True), ("slow", "canceled", True)]
            ),
            60,
            "the nodes closed with the execution",
        )
        assert db.one("SELECT status FROM executions WHERE execution_id = %s", h.execution_id) == (
            "canceled"
        )


def test_the_checker_finds_postgres_equal_to_history_and_a_row_that_is_not(
    kafka_bootstrap: str, database_url: str
) -> None:
    """`linkflow verify --database-url` (linkflow.verify_postgres) on real sink output."""
    from linkflow.verify_postgres import compare

    topic = create_topic(kafka_bootstrap)
    prefix = unique("checked")
    histories = _histories(prefix)
    total = produce(kafka_bootstrap, topic, _all_events(histories))
    events = {h.execution_id: h.events for h in histories.values()}
    with database(database_url) as db, sink_thread(_config(kafka_bootstrap, database_url, topic)):
        wait_until(lambda: db.events_count(prefix) == total, 60, "all events in postgres")
        assert compare(database_url, events, timeout=30) == []
        db.conn.execute(
            "UPDATE node_executions SET status = 'running' WHERE execution_id = %s",
            (f"{prefix}-done",),
        )
        found = compare(database_url, events, timeout=0)
    assert found and {execution_id for execution_id, _ in found} == {f"{prefix}-done"}
    assert all("running" in what for _, what in found)
