"""The sink waits out a lost database connection or a database outage with backoff, holding
its batch, and nothing is lost or duplicated."""

from __future__ import annotations

from pathlib import Path

import psycopg
from test_sink_support import (
    SinkProcess,
    TcpProxy,
    create_topic,
    database,
    metric,
    produce,
    simple_history,
    sink_thread,
    unique,
    wait_until,
)

from connect.sink import SinkConfig


def _check_exact(db: object, prefix: str, executions: int, events_each: int) -> None:
    like = prefix + "%"
    assert db.rows(  # type: ignore[attr-defined]
        "SELECT count(*), count(DISTINCT (execution_id, event_id)) FROM history_events "
        "WHERE execution_id LIKE %s",
        like,
    ) == [(executions * events_each, executions * events_each)]
    assert db.rows(  # type: ignore[attr-defined]
        "SELECT status, last_event_id, count(*) FROM executions "
        "WHERE execution_id LIKE %s GROUP BY 1, 2",
        like,
    ) == [("completed", events_each, executions)]


def test_connection_killed_repeatedly_while_projecting(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    """pg_terminate_backend on the sink's connection (what a PostgreSQL restart or failover
    does to it), over and over while it works through 20,000 events."""
    topic = create_topic(kafka_bootstrap, partitions=4)
    group = unique("test-sink-kill-conn")
    prefix = unique("killconn")
    histories = [simple_history(f"{prefix}-{i:05d}", 2) for i in range(2000)]
    total = produce(kafka_bootstrap, topic, [e for h in histories for e in h.events])
    extra = ["--batch-size", "250", "--dlq-topic", create_topic(kafka_bootstrap, "test.dlq", 1)]
    app = f"linkflow-sink:{group}"
    kills = 0

    with (
        database(database_url) as db,
        SinkProcess(kafka_bootstrap, database_url, topic, group, extra, tmp_path / "log") as sink,
    ):
        wait_until(lambda: db.events_count(prefix) > 0, 60, "the sink to start writing")
        while db.events_count(prefix) < total and kills < 20:
            killed = db.one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s",
                app,
            )
            kills += int(killed or 0)
            # The next kill only once the sink has reconnected and made progress.
            before = db.events_count(prefix)
            wait_until(
                lambda before=before: (
                    db.events_count(prefix) > before or db.events_count(prefix) == total
                ),
                60,
                "progress after a reconnect",
                interval=0.02,
            )
        wait_until(lambda: db.events_count(prefix) == total, 120, "every event projected")
        assert sink.alive(), sink.log()
        assert kills >= 2, f"only {kills} connections killed; the test did not exercise much"
        assert "database unavailable" in sink.log()
        _check_exact(db, prefix, 2000, 10)
        assert (
            db.one("SELECT sum(next_offset) FROM sink_offsets WHERE consumer_group = %s", group)
            == total
        )


def test_database_outage_is_waited_out(kafka_bootstrap: str, database_url: str) -> None:
    """The database disappears (connections cut, new ones refused) while records keep
    arriving; the sink backs off, holding its batch, and catches up when it returns."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    proxy = TcpProxy(str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432))
    proxy.start()
    topic = create_topic(kafka_bootstrap)
    prefix = unique("outage")
    first = [simple_history(f"{prefix}-a{i:03d}", 1) for i in range(50)]
    second = [simple_history(f"{prefix}-b{i:03d}", 1) for i in range(50)]
    config = SinkConfig(
        kafka_bootstrap,
        proxy.url(database_url),
        topic=topic,
        group=unique("test-sink-outage"),
        dlq_topic=create_topic(kafka_bootstrap, "test.dlq", 1),
        poll_timeout=0.2,
        max_backoff=1.0,
    )
    try:
        with database(database_url) as db, sink_thread(config):
            produce(kafka_bootstrap, topic, [e for h in first for e in h.events])
            wait_until(lambda: db.events_count(prefix) == 50 * 6, 60, "the first half")

            proxy.stop()
            retries = metric("linkflow_sink_db_retries_total")
            produce(kafka_bootstrap, topic, [e for h in second for e in h.events])
            # Several failed attempts, spaced by backoff, with the batch held.
            wait_until(
                lambda: metric("linkflow_sink_db_retries_total") >= retries + 4,
                60,
                "the sink to retry during the outage",
            )
            assert db.events_count(prefix) == 50 * 6

            proxy.start()
            wait_until(lambda: db.events_count(prefix) == 100 * 6, 60, "the second half")
            _check_exact(db, prefix, 100, 6)
    finally:
        proxy.stop()
