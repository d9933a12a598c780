"""Workers against the real broker: results, concurrency within a partition, commits of the
completed prefix across a crash, SIGTERM drain of `linkflow worker`, rebalances, dead
letters and kafka_publish.

Every test gets topics of its own (a unique prefix, as `topics apply --prefix` makes) with a
one-partition results topic, so the order of results on it is the order they were sent.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from test_runtime_support import http_server

from linkflow import dlq, transport
from linkflow.codec import decode_result, encode_task
from linkflow.nodes.kafka_publish import kafka_publish
from linkflow.worker import ActivityContext, ActivityTask, Worker, WorkerConfig, WorkerStats

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
OUTCOMES = ("ActivityCompleted", "ActivityFailed")


# ---- helpers --------------------------------------------------------------------------


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Queue:
    bootstrap: str
    config: WorkerConfig
    partitions: int

    def produce(self, *values: bytes | None, partition: int = 0) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap})
        for value in values:
            producer.produce(self.config.task_topic, value=value, key=b"k", partition=partition)
        assert producer.flush(30) == 0

    def committed(self) -> dict[int, int]:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.config.group_id})
        try:
            tps = consumer.committed(
                [TopicPartition(self.config.task_topic, p) for p in range(self.partitions)], 30
            )
        finally:
            consumer.close()
        return {tp.partition: tp.offset for tp in tps}


@pytest.fixture
def new_queue(kafka_bootstrap: str) -> Callable[[int], Queue]:
    """Topics of a test's own: tasks (`partitions`), results, dlq and circuits (one
    partition each)."""

    def make(partitions: int = 1) -> Queue:
        config = WorkerConfig(
            queue="q",
            bootstrap_servers=kafka_bootstrap,
            topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
            commit_interval=0.05,
            # These tests follow attempts by their ActivityStarted records.
            started_report_delay=0,
        )
        topics = {config.task_topic: partitions, config.results_topic: 1, config.dlq_topic: 1}
        # The circuit breakers' shared states (linkflow/worker/circuits.py).
        topics[config.topic_prefix + transport.CIRCUITS] = 1
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        futures = admin.create_topics([NewTopic(t, n, 1) for t, n in topics.items()])
        for future in futures.values():
            future.result(30)
        return Queue(kafka_bootstrap, config, partitions)

    return make


@pytest.fixture
def queue(new_queue: Callable[[int], Queue]) -> Queue:
    return new_queue(1)


def task(n: int, node_type: str, config: Any, workspace: str = "default", **timeouts: Any) -> bytes:
    return encode_task(
        ActivityTask(
            workspace=workspace,
            execution_id="exec-1",
            activity_id=f"a{n}",
            attempt=1,
            node_id=f"node{n}",
            node_type=node_type,
            input=config,
            workflow_id="wf",
            workflow_version=1,
            scheduled_at_ms=int(time.time() * 1000),
            **timeouts,
        ).to_message()
    )


class Log:
    """Everything on a one-partition topic, decoded, read from the beginning."""

    def __init__(self, bootstrap: str, topic: str, decode: Callable[[Any], Any]) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        self._consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        self._decode = decode
        self.items: list[Any] = []

    def read(self) -> list[Any]:
        for message in self._consumer.consume(500, 0.1):
            if message.error() is None:
                self.items.append(self._decode(message))
        return self.items

    def wait_for(self, condition: Callable[[list[Any]], object], what: str) -> list[Any]:
        wait_until(lambda: condition(self.read()), f"{what}; saw {self._summary()}")
        return self.items

    def _summary(self) -> list[Any]:
        return [
            (r.get("input_type"), r.get("activity_id"), r.get("identity"))
            if isinstance(r, dict)
            else r
            for r in self.items
        ]

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def results(queue: Queue) -> Iterator[Log]:
    log = Log(queue.bootstrap, queue.config.results_topic, lambda m: decode_result(m.value()))
    yield log
    log.close()


def of(items: list[dict[str, Any]], input_type: str, activity_id: str | None = None) -> list[Any]:
    return [
        r
        for r in items
        if r["input_type"] == input_type
        and (activity_id is None or r["activity_id"] == activity_id)
    ]


def outcome(items: list[dict[str, Any]], activity_id: str) -> dict[str, Any] | None:
    found = [r for r in items if r["input_type"] in OUTCOMES and r["activity_id"] == activity_id]
    return found[0] if found else None


def finished(*activity_ids: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda items: all(outcome(items, a) is not None for a in activity_ids)


class RunningWorker:
    """A Worker on its own event loop in a thread, as a process would run it."""

    def __init__(self, config: WorkerConfig) -> None:
        self.worker = Worker(config)
        self.stats: WorkerStats | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.worker.ready.wait(WAIT_S)

    def _run(self) -> None:
        try:
            self.stats = asyncio.run(self.worker.run())
        except BaseException as exc:
            self.error = exc

    def stop(self, *, hard: bool = False) -> WorkerStats:
        self.worker.request_stop(hard=hard)
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), "the worker did not stop"
        if self.error is not None:
            raise self.error
        assert self.stats is not None
        return self.stats


def worker_process(queue: Queue, tmp_path: Path, name: str, *extra: str) -> subprocess.Popen[str]:
    """`linkflow worker` as a user runs it, output to files (a full pipe would block it)."""
    cfg = queue.config
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "linkflow.cli.main",
            "worker",
            "--queue",
            cfg.queue,
            "--bootstrap-servers",
            queue.bootstrap,
            "--topic-prefix",
            cfg.topic_prefix,
            "--identity",
            name,
            "--report-started-after",
            "0",
            *extra,
        ],
        cwd=REPO,
        stdout=(tmp_path / f"{name}.out").open("w"),
        stderr=(tmp_path / f"{name}.err").open("w"),
        text=True,
    )


def wait_exit(proc: subprocess.Popen[str], what: str) -> int:
    wait_until(lambda: proc.poll() is not None, what)
    assert proc.returncode is not None
    return proc.returncode


# ---- tests ----------------------------------------------------------------------------


def test_worker_reports_started_then_outcome_and_dead_letters_garbage(
    queue: Queue, results: Log
) -> None:
    queue.produce(
        task(0, "echo", {"hello": ["world", 1]}),
        task(1, "no_such_type", {}),
        task(2, "code", {"source": "raise ValueError('bad input')"}),
        b"\x00not a task",
        None,
        task(5, "noop", {}),
    )
    running = RunningWorker(queue.config)
    try:
        items = results.wait_for(finished("a0", "a1", "a2", "a5"), "four outcomes")
        for activity_id in ("a0", "a1", "a2", "a5"):
            types = [r["input_type"] for r in items if r["activity_id"] == activity_id]
            assert types[0] == "ActivityStarted", (activity_id, types)
            assert types[-1] in OUTCOMES
            assert items[items.index(of(items, "ActivityStarted", activity_id)[0])]["attempt"] == 1

        echo = outcome(items, "a0")
        assert echo is not None and echo["input_type"] == "ActivityCompleted"
        assert echo["result"] == {"hello": ["world", 1]}
        assert echo["identity"] == queue.config.identity

        unknown = outcome(items, "a1")
        assert unknown is not None and unknown["input_type"] == "ActivityFailed"
        assert unknown["error"]["type"] == "UnknownNodeType"
        assert unknown["error"]["retryable"] is False
        assert "no_such_type" in unknown["error"]["message"]
        assert unknown["error"]["node_id"] == "node1"

        failed = outcome(items, "a2")
        assert failed is not None and failed["error"]["type"] == "ValueError"
        assert failed["error"]["retryable"] is True

        dead = Log(queue.bootstrap, queue.config.dlq_topic, lambda m: m)
        try:
            letters = dead.wait_for(lambda xs: len(xs) >= 2, "two dead letters")
            assert [m.value() for m in letters] == [b"\x00not a task", None]
            first, second = (dlq.read_dead_letter_headers(m.headers()) for m in letters)
            assert (first.reason, first.error_type) == ("bad_marker", "DecodeError")
            assert (first.topic, first.partition, first.offset) == (
                queue.config.task_topic,
                0,
                3,
            )
            assert (second.reason, second.offset) == ("empty", 4)
        finally:
            dead.close()

        # Everything was handled, so everything gets committed.
        wait_until(lambda: queue.committed() == {0: 6}, "offset 6 committed")
    finally:
        stats = running.stop()
    assert (stats.completed, stats.failed, stats.dead_lettered) == (2, 2, 2)


def test_activities_of_one_partition_run_concurrently_up_to_the_limit(
    queue: Queue, results: Log
) -> None:
    queue.produce(*(task(n, "sleep", {"seconds": 1.0}) for n in range(7)))
    running = RunningWorker(replace(queue.config, concurrency=3))
    try:
        items = results.wait_for(finished(*(f"a{n}" for n in range(7))), "seven outcomes")
    finally:
        running.stop()
    # Started goes out before a handler runs and a slot is only freed after its outcome
    # was acknowledged, so the log order bounds how many ran at once.
    running_now, most = 0, 0
    for r in items:
        if r["input_type"] == "ActivityStarted":
            running_now += 1
        elif r["input_type"] in OUTCOMES:
            running_now -= 1
        most = max(most, running_now)
    assert most == 3
    first_outcome = next(i for i, r in enumerate(items) if r["input_type"] in OUTCOMES)
    assert len(of(items[:first_outcome], "ActivityStarted")) == 3
    assert all(r["input_type"] == "ActivityCompleted" for r in items if r["input_type"] in OUTCOMES)


def test_heartbeats_and_the_start_to_close_safety_net(queue: Queue, results: Log) -> None:
    queue.produce(
        task(0, "sleep", {"seconds": 1.5}, heartbeat_ms=300),
        task(1, "sleep", {"seconds": 3600}, start_to_close_ms=500),
    )
    running = RunningWorker(queue.config)
    try:
        items = results.wait_for(finished("a0", "a1"), "both outcomes")
    finally:
        running.stop()
    events = [r for r in items if r["activity_id"] == "a0"]
    kinds = [r["input_type"] for r in events]
    assert kinds[0] == "ActivityStarted" and kinds[-1] == "ActivityCompleted"
    beats = of(events, "ActivityHeartbeat")
    assert len(beats) >= 2
    assert any(b["details"] and b["details"]["slept_s"] > 0 for b in beats)
    assert not of(items, "ActivityHeartbeat", "a1")  # no heartbeat_ms: none sent

    timed_out = outcome(items, "a1")
    assert timed_out is not None and timed_out["input_type"] == "ActivityFailed"
    assert timed_out["error"]["type"] == "ActivityTimeout"
    assert timed_out["error"]["retryable"] is True
    assert timed_out["error"]["details"]["timeout_type"] == "start_to_close"


def cancel(n: int, reason: str = "canceled") -> bytes:
    return encode_task(
        {
            "task_type": "CancelActivityTask",
            "execution_id": "exec-1",
            "activity_id": f"a{n}",
            "attempt": 1,
            "reason": reason,
        }
    )


def test_a_cancel_stops_a_running_attempt_and_skips_one_not_started(
    queue: Queue, results: Log
) -> None:
    """CancelActivityTask (the engine's answer to a cancelled execution or a timed-out
    attempt) cancels the handler where it runs; one that arrives before its attempt started
    makes the worker skip it; neither reports an outcome."""
    queue.produce(task(0, "sleep", {"seconds": 3600}))
    running = RunningWorker(queue.config)
    try:
        results.wait_for(lambda items: of(items, "ActivityStarted", "a0"), "a0 started")
        queue.produce(cancel(0), cancel(1, "start_to_close"), task(1, "sleep", {"seconds": 3600}))
        queue.produce(task(2, "sleep", {"seconds": 0.01}))
        items = results.wait_for(finished("a2"), "the outcome of a2")
        wait_until(lambda: running.worker.stats.canceled == 2, "both attempts cancelled")
    finally:
        stats = running.stop()
    assert outcome(items, "a0") is None and outcome(items, "a1") is None
    assert not of(items, "ActivityStarted", "a1")  # skipped, never started
    assert (stats.canceled, stats.completed, stats.abandoned) == (2, 1, 0)


def test_only_the_completed_prefix_is_committed_so_a_crash_reruns_from_the_gap(
    queue: Queue, results: Log, tmp_path: Path
) -> None:
    queue.produce(
        task(0, "echo", {}),
        task(1, "echo", {}),
        task(2, "sleep", {"seconds": 3600}),  # never finishes before the crash
        task(3, "echo", {}),
        task(4, "echo", {}),
    )
    # A short session lets the group notice the killed member quickly.
    first = worker_process(
        queue,
        tmp_path,
        "first",
        "--concurrency",
        "5",
        "--consumer-config",
        "session.timeout.ms=6000",
    )
    try:
        items = results.wait_for(
            lambda xs: finished("a0", "a1", "a3", "a4")(xs) and of(xs, "ActivityStarted", "a2"),
            "a0, a1, a3, a4 done and a2 running",
        )
        assert outcome(items, "a2") is None
        # Offsets 3 and 4 are done too, but 2 is not: the commit stops at 2.
        wait_until(lambda: queue.committed() == {0: 2}, "offset 2 committed")
    finally:
        first.send_signal(signal.SIGKILL)
        wait_exit(first, "the first worker to die")

    second = RunningWorker(replace(queue.config, identity="second"))
    try:
        items = results.wait_for(
            lambda xs: (
                of(xs, "ActivityStarted", "a2")
                and [r for r in of(xs, "ActivityCompleted") if r["identity"] == "second"]
            ),
            "the second worker to re-run from offset 2",
        )
        items = results.wait_for(
            lambda xs: (
                {r["activity_id"] for r in of(xs, "ActivityCompleted") if r["identity"] == "second"}
                == {"a3", "a4"}
            ),
            "the second worker to finish a3 and a4",
        )
    finally:
        second.stop(hard=True)
    rerun = {r["activity_id"] for r in of(items, "ActivityStarted") if r["identity"] == "second"}
    assert rerun == {"a2", "a3", "a4"}  # the unfinished one and those after it; not a0, a1
    assert queue.committed() == {0: 2}  # a2 is still unfinished


def test_the_rate_limit_spaces_the_starts_and_loses_nothing(queue: Queue, results: Log) -> None:
    queue.produce(*(task(n, "echo", {}) for n in range(10)))
    running = RunningWorker(replace(queue.config, rate_limit=5))
    try:
        items = results.wait_for(finished(*(f"a{n}" for n in range(10))), "ten outcomes")
    finally:
        stats = running.stop()
    starts = sorted(r["sent_at_ms"] for r in of(items, "ActivityStarted"))
    assert len(starts) == 10 and stats.completed == 10
    # A burst of 5, then one every 0.2 s: the tenth starts a second after the first, at least.
    assert starts[-1] - starts[0] >= 950, starts


def test_a_workspace_activity_quota_spaces_that_workspaces_starts_only(
    queue: Queue, results: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quotas = tmp_path / "quotas.yaml"
    quotas.write_text("workspaces:\n  slow: {activities_per_second: 5}\n")
    monkeypatch.setenv("LINKFLOW_QUOTAS_FILE", str(quotas))
    queue.produce(*(task(n, "echo", {}, workspace="slow") for n in range(10)))
    queue.produce(*(task(n, "echo", {}, workspace="free") for n in range(10, 20)))
    running = RunningWorker(queue.config)
    try:
        names = (f"a{n}" for n in range(20))
        items = results.wait_for(finished(*names), "twenty outcomes")
    finally:
        stats = running.stop()
    assert stats.completed == 20
    starts = {r["activity_id"]: r["sent_at_ms"] for r in of(items, "ActivityStarted")}
    slow = sorted(starts[f"a{n}"] for n in range(10))
    free = sorted(starts[f"a{n}"] for n in range(10, 20))
    # slow: a burst of 5, then one every 0.2 s (the queue has one partition: this worker's
    # share is the whole rate). free has no quota: its tasks do not wait behind slow's.
    assert slow[-1] - slow[0] >= 950, slow
    assert free[-1] < slow[-1], (free, slow)


def test_an_open_circuit_is_shared_through_its_topic(
    queue: Queue, results: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose calls to a host keep failing opens the host's circuit and publishes
    it; a worker started afterwards, which never called the host, fails its attempt at once
    with the retryable CircuitOpen instead of calling it."""
    monkeypatch.setenv("LINKFLOW_CIRCUIT_FAILURES", "2")
    monkeypatch.setenv("LINKFLOW_CIRCUIT_OPEN_SECONDS", "600")
    with http_server() as server:
        url = f"{server.url}/status/503"
        queue.produce(*(task(n, "http", {"url": url}) for n in range(3)))
        first = worker_process(queue, tmp_path, "first", "--concurrency", "1")  # in turn
        try:
            items = results.wait_for(finished("a0", "a1", "a2"), "three outcomes")
        finally:
            first.send_signal(signal.SIGTERM)
            wait_exit(first, "the first worker to stop")
        errors = [outcome(items, f"a{n}")["error"]["type"] for n in range(3)]  # type: ignore[index]
        assert errors == ["HttpError", "HttpError", "CircuitOpen"]
        assert server.calls == {"status/503": 2}

        queue.produce(task(3, "http", {"url": url}))
        second = worker_process(queue, tmp_path, "second")
        try:
            items = results.wait_for(finished("a3"), "the second worker's outcome")
        finally:
            second.send_signal(signal.SIGTERM)
            wait_exit(second, "the second worker to stop")
    error = outcome(items, "a3")["error"]  # type: ignore[index]
    assert (error["type"], error["retryable"]) == ("CircuitOpen", True)
    assert error["details"]["circuit"] == server.url.removeprefix("http://")
    assert server.calls == {"status/503": 2}  # the second worker never called it


def test_sigterm_drains_running_tasks_commits_them_and_starts_nothing_new(
    queue: Queue, results: Log, tmp_path: Path
) -> None:
    queue.produce(*(task(n, "sleep", {"seconds": 5}) for n in range(6)))
    proc = worker_process(queue, tmp_path, "drainer", "--concurrency", "4", "--drain-timeout", "60")
    try:
        items = results.wait_for(
            lambda xs: len(of(xs, "ActivityStarted")) >= 4, "four activities running"
        )
        assert not [r for r in items if r["input_type"] in OUTCOMES]
        proc.send_signal(signal.SIGTERM)
        code = wait_exit(proc, "the worker to drain and exit")
    finally:
        if proc.poll() is None:
            proc.kill()
    out = (tmp_path / "drainer.out").read_text()
    err = (tmp_path / "drainer.err").read_text()
    assert code == 0, err
    items = results.read()
    started = {r["activity_id"] for r in of(items, "ActivityStarted")}
    completed = {r["activity_id"] for r in of(items, "ActivityCompleted")}
    assert len(started) == 4 and completed == started  # everything in flight finished ...
    assert queue.committed() == {0: 4}  # ... and was committed; the rest waits for others
    assert "linkflow worker drainer: queue 'q'" in out
    assert "linkflow worker stopped: 4 completed, 0 failed" in out
    assert "2 not started, 0 abandoned" in out
    assert "SIGTERM: draining" in err


def test_a_second_worker_takes_over_partitions_and_every_task_completes(
    new_queue: Callable[[int], Queue],
) -> None:
    queue = new_queue(4)
    results = Log(queue.bootstrap, queue.config.results_topic, lambda m: decode_result(m.value()))

    def wave(first: int) -> list[str]:
        for p in range(4):
            queue.produce(
                *(task(first + p * 10 + n, "sleep", {"seconds": 0.5}) for n in range(3)),
                partition=p,
            )
        return [f"a{first + p * 10 + n}" for p in range(4) for n in range(3)]

    early = wave(0)
    one = RunningWorker(replace(queue.config, concurrency=2, identity="one"))
    try:
        results.wait_for(lambda xs: of(xs, "ActivityStarted"), "the first worker to start")
        # The group moves partitions to the newcomer while the first worker has tasks of
        # them in flight: those finish, but only the new owner commits past them.
        two = RunningWorker(replace(queue.config, concurrency=2, identity="two"))
        try:
            assert two.worker.consumer.wait_assigned(WAIT_S)
            late = wave(100)  # lands on both workers' partitions
            items = results.wait_for(finished(*early, *late), "every task done")
            wait_until(
                lambda: queue.committed() == {p: 6 for p in range(4)},
                "every partition committed to its end",
            )
        finally:
            two.stop()
    finally:
        one.stop()
        results.close()
    done_by = {r["identity"] for r in of(items, "ActivityCompleted")}
    assert done_by == {"one", "two"}


def test_activities_still_running_at_the_drain_timeout_are_abandoned_uncommitted(
    queue: Queue, results: Log
) -> None:
    queue.produce(task(0, "echo", {}), task(1, "sleep", {"seconds": 3600}))
    running = RunningWorker(replace(queue.config, drain_timeout=0.2))
    results.wait_for(
        lambda xs: finished("a0")(xs) and of(xs, "ActivityStarted", "a1"), "a1 running"
    )
    wait_until(lambda: queue.committed() == {0: 1}, "offset 1 committed")
    stats = running.stop()
    assert (stats.completed, stats.abandoned) == (1, 1)
    assert outcome(results.read(), "a1") is None  # nothing reported: another worker re-runs it
    assert queue.committed() == {0: 1}


def test_a_result_kafka_refuses_is_reported_as_a_failure_not_retried_forever(
    queue: Queue, results: Log
) -> None:
    # Above the payload limit: refused by the worker before Kafka sees it. Below it, but
    # above what this worker's producer may send: refused by Kafka. Both fail for good.
    queue.produce(
        task(0, "code", {"source": "result = 'x' * 2_000_000"}),
        task(1, "code", {"source": "result = 'y' * 300_000"}),
        task(2, "noop", {}),
    )
    config = replace(queue.config, producer_overrides={"message.max.bytes": 200_000})
    running = RunningWorker(config)
    try:
        items = results.wait_for(finished("a0", "a1", "a2"), "the three outcomes")
        wait_until(lambda: queue.committed() == {0: 3}, "offset 3 committed")
    finally:
        running.stop()
    too_large = outcome(items, "a0")
    assert too_large is not None and too_large["input_type"] == "ActivityFailed"
    assert too_large["error"]["type"] == "PayloadTooLarge"
    assert too_large["error"]["retryable"] is False
    assert too_large["error"]["details"]["result_bytes"] > 2_000_000
    refused = outcome(items, "a1")
    assert refused is not None and refused["input_type"] == "ActivityFailed"
    assert refused["error"]["type"] == "ResultRejected"
    assert refused["error"]["retryable"] is False
    assert refused["error"]["details"]["encoded_bytes"] > 300_000


async def test_kafka_publish_produces_to_a_user_topic(kafka_bootstrap: str) -> None:
    topic = f"t{uuid.uuid4().hex[:10]}.orders"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    ctx = ActivityContext(
        execution_id="e1",
        activity_id="a1",
        attempt=1,
        node_id="pub",
        kafka_bootstrap=kafka_bootstrap,
    )
    try:
        sent = await kafka_publish(
            ctx,
            {
                "topic": topic,
                "key": "order-7",
                "value": {"id": 7, "total": 12.5},
                "headers": {"source": "linkflow"},
            },
        )
    finally:
        await ctx.resources.aclose()
    assert sent["topic"] == topic and sent["offset"] == 0

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": uuid.uuid4().hex})
    consumer.assign([TopicPartition(topic, sent["partition"], OFFSET_BEGINNING)])
    try:
        got: list[Any] = []

        def received() -> bool:
            got.extend(m for m in consumer.consume(10, 0.2) if not m.error())
            return bool(got)

        wait_until(received, "the published message")
    finally:
        consumer.close()
    assert got[0].key() == b"order-7"
    assert got[0].value() == b'{"id":7,"total":12.5}'
    assert got[0].headers() == [("source", b"linkflow")]
