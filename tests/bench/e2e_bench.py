"""End-to-end executions per second and start-to-complete latency on the local broker.

    .venv/bin/python tests/bench/e2e_bench.py [--rate 100] [--duration 10] [--saturation 2000]
        [--warmup 20] [--partitions N] [--workers 1] [--worker-concurrency 10] [--timeout 60]
        [--workdir DIR] [--no-sink] [--check]

Creates topics of its own (a fresh prefix; `--partitions` sets the count of the keyed topics,
as `linkflow topics apply --partitions` does), starts the history processor, the timers
processor, `--workers` workers (`linkflow worker --queue default`) and the visibility sink
(into the local PostgreSQL) on them as child processes, registers a workflow of three
`noop` activities (trigger -> noop -> noop -> noop) and runs it in three modes, one after
the other:

- warmup: `--warmup` executions, not reported;
- rate: StartWorkflow commands paced at `--rate` per second for `--duration` seconds
  (open loop: the sender does not wait for completions);
- saturation: `--saturation` StartWorkflow commands sent as fast as the client can.

A thread reads the prefixed history topic and notes when each execution's terminal event
(WorkflowExecutionCompleted, ...Failed, ...) is read. For each mode it prints the offered
rate, executions started and completed, throughput (completed executions / time from the
first start sent to the last execution complete), start-to-complete latency p50/p95/p99/max
measured three ways: until its row in PostgreSQL says it ended (a thread polls the
executions table; what a user of the API sees), until its terminal event is read from
Kafka, and by the record timestamp of the terminal event (the history processor's clock);
the time to WorkflowExecutionStarted; how many executions did not finish within
`--timeout` seconds of the mode's last start (reported, not waited for); and the CPU
seconds each process used during the mode (the broker and PostgreSQL included). With
`--no-sink` completion is the terminal event on Kafka. `0` or a negative
`--rate`/`--saturation` skips that mode. The last lines give this script's own CPU time (it
shares the machine with what it measures) and the log lines of the child processes that
look like errors. Exit status 1 if any execution did not finish.

`--check` is the CI mode: a tiny load (5 warmup, 20/s for 2 s, 50 at once) that proves the
whole pipeline and the report work; its figures mean nothing.

Everything it created is deleted at the end (`--workdir` keeps the process logs). Needs
`linkflow dev up` (or LINKFLOW_KAFKA_BOOTSTRAP and LINKFLOW_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

import psycopg
from confluent_kafka import Consumer, ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient
from test_runtime_support import Runtime, linear, runtime, unique_id
from test_timers_support import STARTUP, wait_until

from linkflow import settings, transport
from linkflow.client.client import TERMINAL_EVENTS
from linkflow.codec import DecodeError, decode_history

# Every workflow-level event type starts with this; the reader decodes only those records
# (event_type is a plain Avro string in the envelope, so its bytes appear in the record).
_WORKFLOW_EVENT = b"WorkflowExecution"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def describe(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:<30} (none)"
    return (
        f"{label:<30} p50 {percentile(values, 0.50):8.1f}   p95 {percentile(values, 0.95):8.1f}"
        f"   p99 {percentile(values, 0.99):8.1f}   max {max(values):8.1f} ms"
    )


@dataclass
class Seen:
    """What the history reader saw of one execution (perf_counter seconds, epoch ms)."""

    started_at: float | None = None
    started_ts_ms: int | None = None
    terminal_at: float | None = None
    in_postgres_at: float | None = None  # its row first showed it ended
    terminal_ts_ms: int | None = None
    status: str | None = None


class HistoryReader:
    """Reads `<prefix>linkflow.history` from the beginning in a thread; notes the first
    WorkflowExecutionStarted and the first terminal event of every execution."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.topic = prefix + transport.HISTORY
        self.consumer = Consumer(
            transport.consumer_config(
                bootstrap,
                f"{prefix}e2e-bench-{uuid.uuid4().hex[:8]}",
                # What it measures must not wait for itself, whatever LINKFLOW_FETCH_MIN_BYTES.
                **{"fetch.wait.max.ms": 5, "fetch.min.bytes": 1},
            )
        )
        self.seen: dict[str, Seen] = {}
        # Called (under the lock) with each execution whose terminal event was read.
        self.on_terminal: Callable[[str], None] = lambda _execution_id: None
        self.records = 0
        self.decode_errors = 0
        self._lock = threading.Lock()
        self._ended = threading.Condition(self._lock)  # notified on every terminal event
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="history-reader", daemon=True)

    def start(self) -> HistoryReader:
        self.consumer.subscribe([self.topic])
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.consumer.close()

    def get(self, execution_id: str) -> Seen | None:
        with self._lock:
            return self.seen.get(execution_id)

    def wait_ended(self, ids: set[str], seconds: float, with_sink: bool) -> set[str]:
        """Those of `ids` not complete (see `done_at`) after waiting up to `seconds`."""

        def pending() -> set[str]:
            return {
                e
                for e in ids
                if (s := self.seen.get(e)) is None
                or s.terminal_at is None
                or done_at(s, with_sink) is None
            }

        with self._ended:
            self._ended.wait_for(lambda: not pending(), seconds)
            return pending()

    def _run(self) -> None:
        consumer = self.consumer
        while not self._stop.is_set():
            # consume(n, 0) takes what is already fetched without waiting for a full batch;
            # poll returns as soon as one record arrives, so reading adds little latency.
            batch = consumer.consume(1000, 0)
            if not batch:
                msg = consumer.poll(0.05)
                if msg is None:
                    continue
                batch = [msg]
            read_at = time.perf_counter()
            for msg in batch:
                if msg.error():
                    continue
                self.records += 1
                value = msg.value()
                if value is None or _WORKFLOW_EVENT not in value:
                    continue
                try:
                    event = decode_history(value)
                except DecodeError:
                    self.decode_errors += 1
                    continue
                event_type = event["event_type"]
                execution_id = event["execution_id"]
                with self._lock:
                    seen = self.seen.get(execution_id)
                    if seen is None:
                        seen = self.seen[execution_id] = Seen()
                    if event_type == "WorkflowExecutionStarted":
                        if seen.started_at is None:
                            seen.started_at = read_at
                            seen.started_ts_ms = msg.timestamp()[1]
                    elif event_type in TERMINAL_EVENTS and seen.terminal_at is None:
                        seen.terminal_at = read_at
                        seen.terminal_ts_ms = msg.timestamp()[1]
                        seen.status = TERMINAL_EVENTS[event_type]
                        self._ended.notify_all()
                        self.on_terminal(execution_id)


class PostgresWatcher:
    """Polls the executions table in a thread; notes when each execution's row first shows
    it ended (what the API answers from). It asks only about executions whose terminal
    event the reader has seen and whose row did not show it yet: a handful at a time, so
    the polling itself costs PostgreSQL little."""

    INTERVAL = 0.01

    def __init__(self, database_url: str, reader: HistoryReader) -> None:
        self.database_url = database_url
        self.reader = reader  # whose Seen records it completes, under its lock
        self._pending: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postgres-watcher", daemon=True)
        reader.on_terminal = self._pending.add

    def start(self) -> PostgresWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            # A lookup by key: never a scan of the whole table, whatever the statistics say
            # while it grows (see load_state in connect/store.py).
            conn.execute("SET enable_seqscan = off")
            while not self._stop.wait(self.INTERVAL):
                with self.reader._lock:
                    pending = list(self._pending)
                if not pending:
                    continue
                rows = conn.execute(
                    "SELECT execution_id FROM executions "
                    "WHERE execution_id = ANY(%s) AND status <> 'running'",
                    (pending,),
                ).fetchall()
                seen_at = time.perf_counter()
                with self.reader._ended:
                    for (execution_id,) in rows:
                        self._pending.discard(execution_id)
                        seen = self.reader.seen.setdefault(execution_id, Seen())
                        seen.in_postgres_at = seen_at
                    if rows:
                        self.reader._ended.notify_all()


def done_at(seen: Seen, with_sink: bool) -> float | None:
    """When an execution counts as complete: its row in Postgres, or its terminal event."""
    return seen.in_postgres_at if with_sink else seen.terminal_at


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(rt: Runtime) -> dict[str, float]:
    """CPU seconds so far of every runtime process, the broker and PostgreSQL."""
    out = {
        name: cpu_seconds(proc.proc.pid)
        for name, proc in rt.processes.items()
        if proc.proc is not None
    }
    broker = postgres = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"kafka.Kafka" in cmdline:
            broker += cpu_seconds(int(entry))
        elif cmdline.startswith(b"postgres") or b"/bin/postgres" in cmdline:
            postgres += cpu_seconds(int(entry))
    out["kafka broker"] = broker
    out["postgresql"] = postgres
    return out


@dataclass
class ModeResult:
    name: str
    offered: str
    sent: dict[str, tuple[float, int]] = field(default_factory=dict)  # perf_counter, epoch ms
    send_span_s: float = 0.0
    max_send_lag_ms: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # seconds during the mode
    with_sink: bool = True


def run_mode(
    rt: Runtime,
    reader: HistoryReader,
    workflow_id: str,
    name: str,
    count: int,
    rate: float | None,
    timeout: float,
    watcher: PostgresWatcher | None,
) -> tuple[ModeResult, dict[str, Seen]]:
    """Send `count` starts (paced at `rate`/s, or as fast as possible if None), then wait up
    to `timeout` seconds after the last send for every execution to complete."""
    offered = f"{rate:g}/s" if rate else "as fast as possible"
    result = ModeResult(name, offered, with_sink=watcher is not None)
    cpu_before = cpu_snapshot(rt)
    client = rt.client
    ids = [f"{name}-{uuid.uuid4().hex}" for _ in range(count)]
    t0 = time.perf_counter()
    for i, execution_id in enumerate(ids):
        if rate:
            due = t0 + i / rate
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            else:
                result.max_send_lag_ms = max(result.max_send_lag_ms, (now - due) * 1000)
        sent_at = time.perf_counter()
        sent_ms = time.time_ns() // 1_000_000
        # flush=False: the producer batches (linger.ms) and sends from its own thread.
        client.start(workflow_id, {}, execution_id=execution_id, flush=False)
        result.sent[execution_id] = (sent_at, sent_ms)
    result.send_span_s = time.perf_counter() - t0
    client.flush()

    deadline = time.monotonic() + timeout
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        # Wake on terminal events; look at the processes at least once a second.
        pending = reader.wait_ended(
            pending, min(1.0, max(0.0, deadline - time.monotonic())), result.with_sink
        )
        if pending:
            rt.check_alive()
    cpu_after = cpu_snapshot(rt)
    result.cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    seen = {}
    for e in ids:
        s = reader.get(e)
        seen[e] = s if s is not None else Seen()
    return result, seen


def report(result: ModeResult, seen: dict[str, Seen]) -> None:
    done = {e: s for e, s in seen.items() if done_at(s, result.with_sink) is not None}
    unfinished = len(result.sent) - len(done)
    print(f"== {result.name}: offered {result.offered}")
    achieved = len(result.sent) / result.send_span_s if result.send_span_s > 0 else float("inf")
    lag = f", max send lag {result.max_send_lag_ms:.1f} ms" if result.max_send_lag_ms else ""
    print(f"sent: {len(result.sent)} starts in {result.send_span_s:.2f}s ({achieved:,.0f}/s{lag})")
    statuses = Counter(s.status for s in done.values())
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    print(
        f"finished: {len(done)}"
        + (f" ({by_status})" if by_status else "")
        + f"; unfinished after timeout: {unfinished}"
    )
    if done:
        first_sent = min(at for at, _ in result.sent.values())
        last_done = max(t for s in done.values() if (t := done_at(s, result.with_sink)))
        span = max(1e-9, last_done - first_sent)
        where = "in Postgres" if result.with_sink else "terminal event read"
        print(
            f"throughput: {len(done) / span:,.1f} executions/s "
            f"({len(done)} in {span:.2f}s, first start to last complete, {where})"
        )

        def since_sent(at: float | None, e: str) -> float | None:
            return None if at is None else (at - result.sent[e][0]) * 1000

        def series(pick: Callable[[Seen], float | None]) -> list[float]:
            values = [since_sent(pick(s), e) for e, s in done.items()]
            return [v for v in values if v is not None]

        if result.with_sink:
            print(describe("start -> complete in Postgres", series(lambda s: s.in_postgres_at)))
        print(describe("start -> terminal read", series(lambda s: s.terminal_at)))
        by_record = [
            float(s.terminal_ts_ms - result.sent[e][1])
            for e, s in done.items()
            if s.terminal_ts_ms is not None and s.terminal_ts_ms >= 0
        ]
        print(describe("start -> terminal (record ts)", by_record))
        print(describe("start -> Started read", series(lambda s: s.started_at)))
        started_by_record = [
            float(s.started_ts_ms - result.sent[e][1])
            for e, s in done.items()
            if s.started_ts_ms is not None and s.started_ts_ms >= 0
        ]
        print(describe("start -> Started (record ts)", started_by_record))
    if result.cpu:
        total = sum(result.cpu.values())
        parts = ", ".join(f"{name} {sec:.1f}" for name, sec in sorted(result.cpu.items()))
        print(f"CPU seconds during the mode: {parts} (total {total:.1f})")


def wait_workers_settled(rt: Runtime, workers: int, queue: str = "default") -> None:
    """Until the queue's worker group is stable with `workers` members sharing every task
    partition: a worker that joins late moves partitions mid-run and stalls their tasks."""
    admin = AdminClient({"bootstrap.servers": rt.topics.bootstrap})
    group = f"{rt.prefix}linkflow-worker-{queue}"
    # Workers read the queue's topic and its high-priority one (when it exists).
    known = admin.list_topics(timeout=30).topics
    partitions = sum(
        len(known[topic].partitions)
        for topic in (rt.prefix + transport.task_topic(queue, high) for high in (False, True))
        if topic in known
    )

    def settled() -> bool:
        rt.check_alive()
        try:
            desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
        except KafkaException:
            return False
        if desc.state != ConsumerGroupState.STABLE or len(desc.members) != workers:
            return False
        owned = [len(m.assignment.topic_partitions) for m in desc.members]
        return sum(owned) == partitions and (workers > partitions or all(owned))

    wait_until(settled, STARTUP, f"{workers} worker(s) in {group}", interval=0.2)


_PROBLEM = re.compile(r"\b(ERROR|CRITICAL|Traceback|Exception)\b")


def log_problems(rt: Runtime) -> None:
    for proc in rt.processes.values():
        lines = [line for line in proc.log_text().splitlines() if _PROBLEM.search(line)]
        warnings = sum(1 for line in proc.log_text().splitlines() if "WARNING" in line)
        if lines:
            print(f"{proc.name}: {len(lines)} error-like log lines, {warnings} warnings; first:")
            for line in lines[:5]:
                print(f"    {line[:200]}")
        elif warnings:
            print(f"{proc.name}: {warnings} warning log lines")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="offered starts per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the rate run")
    parser.add_argument(
        "--saturation", type=int, default=2000, help="starts sent at once in the saturation run"
    )
    parser.add_argument("--warmup", type=int, default=20, help="executions before measuring")
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="of the keyed topics (`topics apply --partitions`; default: the spec files')",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--worker-concurrency", type=int, default=None, help="`linkflow worker --concurrency`"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds after a mode's last start to wait for its executions to finish",
    )
    parser.add_argument("--log-level", default="INFO", help="of the processors and workers")
    parser.add_argument("--workdir", default=None, help="keep the process logs here")
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--engine-batch-within",
        default=None,
        help="`linkflow engine run --batch-within` (default: the processor's)",
    )
    parser.add_argument(
        "--no-sink", action="store_true", help="complete = terminal event on Kafka; no sink"
    )
    parser.add_argument(
        "--check", action="store_true", help="CI mode: a tiny load, figures meaningless"
    )
    args = parser.parse_args()
    if args.check:
        args.warmup, args.rate, args.duration, args.saturation = 5, 20.0, 2.0, 50
    bootstrap = args.bootstrap or settings.kafka_bootstrap()
    database_url = None if args.no_sink else (args.database_url or settings.database_url())

    with contextlib.ExitStack() as stack:
        if args.workdir:
            workdir = Path(args.workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        rt = stack.enter_context(
            runtime(bootstrap, workdir, "bench-e2e", start=False, partitions=args.partitions)
        )
        engine_extra = ["--loglevel", args.log_level]
        if args.engine_batch_within is not None:
            engine_extra += ["--batch-within", args.engine_batch_within]
        rt.start_engine("engine", *engine_extra)
        rt.start_timers()
        worker_extra = ["--log-level", args.log_level]
        if args.worker_concurrency is not None:
            worker_extra += ["--concurrency", str(args.worker_concurrency)]
        for i in range(args.workers):
            rt.start_worker(f"worker-{i}", "default", *worker_extra)
        if database_url is not None:
            rt.start_sink(database_url)
        setup_at = time.monotonic()
        wait_workers_settled(rt, args.workers)
        rt.ready()
        print(
            f"runtime ready in {time.monotonic() - setup_at:.1f}s (prefix {rt.prefix}, "
            f"{rt.topics.partitions} partitions per keyed topic)"
        )

        workflow_id = unique_id("e2e")
        rt.register(linear(workflow_id, ["noop", "noop", "noop"]))
        reader = HistoryReader(bootstrap, rt.prefix).start()
        stack.callback(reader.stop)
        watcher = None
        if database_url is not None:
            watcher = PostgresWatcher(database_url, reader).start()
            stack.callback(watcher.stop)

        unfinished = 0
        try:
            if args.warmup > 0:
                _, seen = run_mode(
                    rt, reader, workflow_id, "warmup", args.warmup, None, STARTUP, watcher
                )
                missing = sum(1 for s in seen.values() if done_at(s, watcher is not None) is None)
                print(f"warmup: {args.warmup - missing}/{args.warmup} finished")
            modes: list[tuple[str, int, float | None]] = []
            if args.rate > 0 and args.duration > 0:
                modes.append(("rate", max(1, round(args.rate * args.duration)), args.rate))
            if args.saturation > 0:
                modes.append(("saturation", args.saturation, None))
            for name, count, rate in modes:
                result, seen = run_mode(
                    rt, reader, workflow_id, name, count, rate, args.timeout, watcher
                )
                report(result, seen)
                unfinished += sum(1 for s in seen.values() if done_at(s, result.with_sink) is None)
            own = resource.getrusage(resource.RUSAGE_SELF)
            print(
                f"history records read: {reader.records:,}"
                + (f", {reader.decode_errors} undecodable" if reader.decode_errors else "")
                + f"; this script's own CPU: {own.ru_utime + own.ru_stime:.1f}s"
            )
        finally:
            log_problems(rt)
    return 0 if unfinished == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
