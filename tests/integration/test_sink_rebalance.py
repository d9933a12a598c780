"""Several sink instances in one group share the partitions; as instances join and leave,
partitions move between them through PostgreSQL's offsets with nothing lost or doubled."""

from __future__ import annotations

from test_sink_support import (
    create_topic,
    database,
    produce,
    simple_history,
    sink_thread,
    unique,
    wait_until,
)

from connect.sink import SinkConfig


def test_partitions_move_between_instances(kafka_bootstrap: str, database_url: str) -> None:
    topic = create_topic(kafka_bootstrap, partitions=6)
    prefix = unique("rebal")
    config = SinkConfig(
        kafka_bootstrap,
        database_url,
        topic=topic,
        group=unique("test-sink-rebalance"),
        dlq_topic=create_topic(kafka_bootstrap, "test.dlq", 1),
        batch_size=200,
        poll_timeout=0.2,
    )
    waves = [[simple_history(f"{prefix}-{w}-{i:04d}", 1) for i in range(300)] for w in range(3)]
    per = len(waves[0][0].events)  # 6 events each
    produced = 0

    def all_in(db: object, n: int) -> bool:
        return db.events_count(prefix) == n  # type: ignore[attr-defined]

    with database(database_url) as db:
        with sink_thread(config) as first:
            produced += produce(kafka_bootstrap, topic, [e for h in waves[0] for e in h.events])
            wait_until(lambda: all_in(db, produced), 60, "wave 0 with one instance")

            with sink_thread(config) as second:
                wait_until(
                    lambda: second.partitions.ready() and first.partitions.ready(),
                    60,
                    "both instances to own partitions",
                )
                assert not set(first.partitions.owned()) & set(second.partitions.owned())
                produced += produce(kafka_bootstrap, topic, [e for h in waves[1] for e in h.events])
                wait_until(lambda: all_in(db, produced), 60, "wave 1 with two instances")
                assert second.events_projected > 0

            # The second instance left; the first takes its partitions back from PostgreSQL.
            wait_until(lambda: len(first.partitions.ready()) == 6, 60, "first owns all again")
            produced += produce(kafka_bootstrap, topic, [e for h in waves[2] for e in h.events])
            wait_until(lambda: all_in(db, produced), 60, "wave 2 after the leave")

        assert produced == 3 * 300 * per
        assert db.rows(
            "SELECT count(*), count(DISTINCT (execution_id, event_id)) FROM history_events "
            "WHERE execution_id LIKE %s",
            prefix + "%",
        ) == [(produced, produced)]
        assert db.rows(
            "SELECT status, last_event_id, count(*) FROM executions WHERE execution_id LIKE %s "
            "GROUP BY 1, 2",
            prefix + "%",
        ) == [("completed", per, 900)]
        assert (
            db.one(
                "SELECT sum(next_offset) FROM sink_offsets WHERE consumer_group = %s",
                config.group,
            )
            == produced
        )
