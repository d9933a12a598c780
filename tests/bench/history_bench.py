"""CPU per workflow of the history processor's batch handling, in one process, no broker.

    .venv/bin/python tests/bench/history_bench.py [--executions 5000] [--batch 500]
        [--profile N]

Drives `HistoryProcessor.handle` and `committed` (processors/history.py) the way the
transactional loop does, with real encoded inputs: batches of StartWorkflow commands as the
client encodes them, then, round after round, one ActivityCompleted per task the previous
round emitted, as a worker encodes it, until every execution of a three-`noop` workflow
(trigger -> noop -> noop -> noop) completed. The state stores are real (rocksdict in a
temporary directory); nothing is produced (the loop's Kafka transaction is what e2e_bench
measures). Prints executions per second of one core and microseconds per execution;
`--profile N` prints cProfile's N most expensive functions too.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_runtime_support import linear

import processors.history
from linkflow import transport
from linkflow.codec import decode_task, encode_command
from linkflow.gc_tuning import tune_for_service
from linkflow.model import Catalog
from linkflow.worker import messages
from linkflow.worker.registry import installed_node_types
from processors.exactly_once import LoopConfig, Output
from processors.history import HistoryConfig, HistoryProcessor
from processors.state_store import PartitionStores

PARTITIONS = 12
WORKFLOW = linear("bench3", ["noop", "noop", "noop"])


@dataclass(frozen=True, slots=True)
class FakeMessage:
    """What the processor reads of a confluent_kafka.Message."""

    _topic: str
    _partition: int
    _offset: int
    _key: bytes
    _value: bytes
    _ts: int

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return 1, self._ts

    def error(self) -> None:
        return None

    def headers(self) -> None:
        return None


class _NoLoop:
    """Stands in for the TransactionalLoop, whose Kafka clients this bench does without."""

    def __init__(self, config: LoopConfig, inputs: object) -> None:
        self.config = config


class _Feed:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def wait_caught_up(self, _timeout: float) -> bool:
        return True


def start_command(execution_id: str, now_ms: int) -> bytes:
    return encode_command(
        {
            "execution_id": execution_id,
            "sent_at_ms": now_ms,
            "input_type": "StartWorkflow",
            "workspace": None,
            "request_id": f"req-{execution_id}",
            "workflow_id": WORKFLOW["id"],
            "workflow_version": None,
            "input": {"order": execution_id, "amount": 42},
            "idempotency_key": None,
            "parent_execution_id": None,
            "parent_node_id": None,
            "parent_scope": None,
            "search_attributes": {},
        }
    )


def run(executions: int, batch: int, datadir: Path) -> float:
    """Seconds of handle + committed for `executions` workflows, start to completion."""
    processors.history.TransactionalLoop = _NoLoop  # type: ignore[misc, assignment]
    config = HistoryConfig(bootstrap="127.0.0.1:1", datadir=datadir)
    catalog = Catalog([WORKFLOW], registry=installed_node_types())
    processor = HistoryProcessor(config, _Feed(catalog), partitions=PARTITIONS)  # type: ignore[arg-type]
    stores = PartitionStores(datadir / "bench-store")
    commands = config.topic(transport.COMMANDS)
    results = config.topic(transport.RESULTS)
    now = int(time.time() * 1000)
    offset = 0
    pending = []
    for i in range(executions):
        eid = f"bench-{i}"
        offset += 1
        value = start_command(eid, now)
        pending.append(FakeMessage(commands, i % PARTITIONS, offset, eid.encode(), value, now))
    tasks_topic = config.topic(transport.task_topic("default"))
    spent = 0.0
    completed = 0
    while pending:
        produced: list[bytes] = []
        for start in range(0, len(pending), batch):
            chunk = pending[start : start + batch]
            began = time.perf_counter()
            output = processor.handle(chunk, stores)
            for partition, values in output.values.items():
                stores.get(partition).write(values, None)
            processor.committed(output)
            spent += time.perf_counter() - began
            produced += [r.value for r in output.records if r.topic == tasks_topic]
            completed += _terminal_count(output)
        pending = []
        for value in produced:
            task = messages.ActivityTask.from_message(decode_task(value))
            offset += 1
            pending.append(
                FakeMessage(
                    results,
                    offset % PARTITIONS,
                    offset,
                    task.key,
                    messages.completed(task, None, "bench-worker", now),
                    now,
                )
            )
    stores.close()
    if completed != executions:
        raise SystemExit(f"only {completed} of {executions} executions completed")
    return spent


def _terminal_count(output: Output) -> int:
    return sum(1 for r in output.records if b"WorkflowExecutionCompleted" in (r.value or b""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--executions", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500, help="inputs per handle call")
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions")
    args = parser.parse_args()
    tune_for_service()  # as `linkflow engine run` does
    with tempfile.TemporaryDirectory() as tmp:
        run(min(200, args.executions), args.batch, Path(tmp) / "warm")
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        seconds = run(args.executions, args.batch, Path(tmp) / "measured")
        if profiler is not None:
            profiler.disable()
    print(
        f"history processor: {args.executions} three-noop executions in {seconds:.3f} s of "
        f"handle+committed: {args.executions / seconds:,.0f} executions/s, "
        f"{seconds / args.executions * 1e6:.0f} us per execution"
    )
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
