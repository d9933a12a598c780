"""Visibility sink throughput: history events projected into PostgreSQL per second.

    .venv/bin/python tests/bench/sink_bench.py [--executions 10000] [--activities 2]
                                               [--batch-size 5000] [--partitions 4]

Uses the running local stack (`linkflow dev up`) or LINKFLOW_KAFKA_BOOTSTRAP /
LINKFLOW_DATABASE_URL. Writes `executions` histories of 2 + 4 * `activities` events each to a
fresh topic first, then starts one sink (in this process, fresh consumer group) and times it
from start until every event is in PostgreSQL. The end-to-end figure includes the consumer
joining its group; the steady rate is measured from the first batch to the last.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_sink_support import create_topic, produce, simple_history

from connect.sink import Sink, SinkConfig
from linkflow import settings
from linkflow.gc_tuning import tune_for_service


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--activities", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    tune_for_service()  # as `linkflow sink run` does

    bootstrap = settings.kafka_bootstrap()
    database_url = settings.database_url()
    topic = create_topic(bootstrap, "bench.sink", args.partitions)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    per_execution = 2 + 4 * args.activities
    histories = [
        simple_history(f"{prefix}-{i:07d}", args.activities) for i in range(args.executions)
    ]
    events = [h.events[k] for k in range(per_execution) for h in histories]
    started = time.perf_counter()
    total = produce(bootstrap, topic, events)
    print(f"produced {total} events in {time.perf_counter() - started:.1f}s to {topic}")

    sink = Sink(
        SinkConfig(
            bootstrap,
            database_url,
            topic=topic,
            group=f"bench-sink-{uuid.uuid4().hex[:8]}",
            batch_size=args.batch_size,
            poll_timeout=0.1,
        )
    )
    thread = threading.Thread(target=sink.run, daemon=True)
    first_event: float | None = None
    started = time.perf_counter()
    thread.start()
    with psycopg.connect(database_url, autocommit=True) as conn:
        while sink.events_projected < total:
            if first_event is None and sink.events_projected:
                first_event = time.perf_counter()
            time.sleep(0.01)
        finished = time.perf_counter()
        sink.stop()
        thread.join(30)
        stored = conn.execute(
            "SELECT count(*) FROM history_events WHERE execution_id LIKE %s", (prefix + "%",)
        ).fetchone()
        completed = conn.execute(
            "SELECT count(*) FROM executions WHERE execution_id LIKE %s AND status = 'completed'",
            (prefix + "%",),
        ).fetchone()
    assert stored is not None and stored[0] == total, stored
    assert completed is not None and completed[0] == args.executions, completed
    elapsed = finished - started
    print(
        f"projected {total} events ({args.executions} executions, "
        f"{args.executions * args.activities} node rows) in {elapsed:.2f}s: "
        f"{total / elapsed:,.0f} events/s end to end"
    )
    if first_event is not None and finished > first_event:
        # The first batch is already counted at first_event, so leave it out of the rate.
        print(
            f"steady state after the first batch: {total / (finished - first_event):,.0f} events/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
