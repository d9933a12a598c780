"""Activity tasks per second of one worker process, and its CPU per task, on the local broker.

    .venv/bin/python tests/bench/worker_bench.py [--tasks 20000] [--partitions 3]

Creates topics of its own (a fresh prefix), writes `--tasks` ActivityTasks of the `noop`
node type to linkflow.tasks.default (as the history processor encodes them, each for its
own execution), then starts one `linkflow worker --queue default` on them and reads
linkflow.results until every task's ActivityCompleted is there. Prints tasks per second
from the worker's first result to its last, and the worker process's CPU time over that
span per task (its librdkafka threads included). Needs `linkflow dev up` (or
LINKFLOW_KAFKA_BOOTSTRAP).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from confluent_kafka import Consumer, Producer
from test_runtime_support import Runtime, linear, runtime
from test_timers_support import STARTUP

from linkflow import settings, transport
from linkflow.engine import ActivityTask, Engine, StartWorkflow
from linkflow.model import Catalog
from linkflow.worker.registry import installed_node_types
from processors.history_records import outgoing

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_bench import cpu_seconds


def task_records(count: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of `count` noop ActivityTasks, each of its own execution."""
    workflow = linear("bench-worker", ["noop"])
    engine = Engine(Catalog([workflow], registry=installed_node_types()))
    records = []
    for i in range(count):
        eid = f"w-{i}"
        decision = engine.decide(
            None,
            StartWorkflow(request_id=eid, execution_id=eid, workflow_id="bench-worker", input={}),
            1_000,
        )
        tasks = [e for e in decision.effects if isinstance(e, ActivityTask)]
        for record in outgoing([], tasks, 1_000):
            records.append((record.key, record.value))
    return records


def produce_all(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(transport.producer_config(bootstrap, **{"linger.ms": 20}))
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def read_results(rt: Runtime, expected: int, worker_pid: int, timeout: float) -> None:
    consumer = Consumer(transport.consumer_config(rt.topics.bootstrap, f"{rt.prefix}bench-reader"))
    consumer.subscribe([rt.prefix + transport.RESULTS])
    seen = 0
    first_at = last_at = 0.0
    cpu_first = cpu_last = 0.0
    deadline = time.monotonic() + timeout
    try:
        while seen < expected and time.monotonic() < deadline:
            for msg in consumer.consume(5000, 0.2):
                if msg.error() is None and b"ActivityCompleted" in (msg.value() or b""):
                    seen += 1
                    if seen == 1:
                        first_at, cpu_first = time.monotonic(), cpu_seconds(worker_pid)
            last_at, cpu_last = time.monotonic(), cpu_seconds(worker_pid)
    finally:
        consumer.close()
    if seen < expected:
        raise SystemExit(f"only {seen} of {expected} results within {timeout:.0f} s")
    span = max(last_at - first_at, 1e-6)  # one task, or all read in one poll
    cpu = cpu_last - cpu_first
    print(
        f"worker: {expected} noop tasks in {span:.2f} s: {expected / span:,.0f} tasks/s; "
        f"worker CPU {cpu:.2f} s, {cpu / expected * 1e6:.0f} us per task"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--bootstrap", help="default: LINKFLOW_KAFKA_BOOTSTRAP or the dev stack")
    args = parser.parse_args()
    bootstrap = args.bootstrap or settings.kafka_bootstrap()
    records = task_records(args.tasks)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        rt = stack.enter_context(
            runtime(bootstrap, workdir, "bench-worker", start=False, partitions=args.partitions)
        )
        produce_all(bootstrap, rt.prefix + transport.task_topic("default"), records)
        worker = rt.start_worker("worker", "default", "--log-level", "WARNING")
        assert worker.proc is not None
        read_results(rt, args.tasks, worker.proc.pid, args.timeout + STARTUP)


if __name__ == "__main__":
    main()
