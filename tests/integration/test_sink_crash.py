"""A sink process killed with SIGKILL mid-batch and restarted ends with every event present
exactly once and every execution correct; SIGTERM stops it gracefully."""

from __future__ import annotations

import time
from pathlib import Path

from test_sink_support import (
    SinkProcess,
    create_topic,
    database,
    produce,
    simple_history,
    unique,
    wait_until,
)

EXECUTIONS = 2000
ACTIVITIES = 2  # 2 + 4 * 2 = 10 events per execution
EVENTS_PER_EXECUTION = 2 + 4 * ACTIVITIES


def test_sigkill_mid_batch_then_restart(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    topic = create_topic(kafka_bootstrap, partitions=4)
    group = unique("test-sink-crash")
    prefix = unique("crash")
    histories = [simple_history(f"{prefix}-{i:05d}", ACTIVITIES) for i in range(EXECUTIONS)]
    # Interleave executions, as a busy processor would write them.
    events = [h.events[k] for k in range(EVENTS_PER_EXECUTION) for h in histories]
    total = produce(kafka_bootstrap, topic, events)
    assert total == 20_000
    log = tmp_path / "sink.log"
    # Small batches make many transactions, so the kill lands between some of them or
    # inside one.
    extra = ["--batch-size", "250", "--dlq-topic", create_topic(kafka_bootstrap, "test.dlq", 1)]

    with database(database_url) as db:
        with SinkProcess(kafka_bootstrap, database_url, topic, group, extra, log) as first:
            partial = wait_until(
                lambda: 0 < (n := db.events_count(prefix)) < total and n,
                120,
                "some but not all events projected",
                interval=0.01,
            )
            first.kill()
        after_kill = db.events_count(prefix)
        assert partial <= after_kill < total, (partial, after_kill, first.log())
        stored = db.one(
            "SELECT coalesce(sum(next_offset), 0) FROM sink_offsets WHERE consumer_group = %s",
            group,
        )
        # Offsets and rows were committed together: what is stored is exactly what was read.
        assert stored == after_kill

        with SinkProcess(kafka_bootstrap, database_url, topic, group, extra, log) as second:
            wait_until(lambda: db.events_count(prefix) == total, 180, "every event projected")
            wait_until(
                lambda: (
                    db.one(
                        "SELECT sum(next_offset) FROM sink_offsets WHERE consumer_group = %s", group
                    )
                    == total
                ),
                60,
                "offsets at the end",
            )
            started = time.monotonic()
            assert second.terminate() == 0, second.log()
            assert time.monotonic() - started < 30
        assert "sink stopped after projecting" in log.read_text()

        like = prefix + "%"
        assert db.rows(
            "SELECT count(*), count(DISTINCT (execution_id, event_id)), min(event_id), "
            "max(event_id) FROM history_events WHERE execution_id LIKE %s",
            like,
        ) == [(total, total, 1, EVENTS_PER_EXECUTION)]
        assert db.rows(
            "SELECT status, last_event_id, count(*) FROM executions "
            "WHERE execution_id LIKE %s GROUP BY 1, 2",
            like,
        ) == [("completed", EVENTS_PER_EXECUTION, EXECUTIONS)]
        assert db.rows(
            "SELECT status, attempt, count(*) FROM node_executions "
            "WHERE execution_id LIKE %s GROUP BY 1, 2",
            like,
        ) == [("completed", 1, EXECUTIONS * ACTIVITIES)]
