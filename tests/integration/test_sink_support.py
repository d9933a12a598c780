"""Helpers for the visibility sink's integration tests (no tests here).

Each test gets its own history topic, consumer group, dead-letter topic and execution ids, so
tests share the one Kafka broker and PostgreSQL database without seeing each other's data.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connect.sink import Sink, SinkConfig
from linkflow import transport
from linkflow.codec import encode_history

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_760_000_000_000
T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `predicate` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: T = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)
        last = predicate()
    return last


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(bootstrap: str, prefix: str = "test.sink", partitions: int = 3) -> str:
    name = f"{prefix}.{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[
        name
    ].result(30)
    return name


def event(execution_id: str, event_id: int, event_type: str, **attributes: Any) -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "event_id": event_id,
        "timestamp_ms": T0 + 1000 * event_id,
        "event_type": event_type,
        "attributes": attributes,
    }


class History:
    """One execution's history with consecutive event ids."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.events: list[dict[str, Any]] = []

    def add(self, event_type: str, **attributes: Any) -> History:
        self.events.append(event(self.execution_id, len(self.events) + 1, event_type, **attributes))
        return self

    def started(self, workflow_id: str = "orders", **search: str) -> History:
        return self.add(
            "WorkflowExecutionStarted",
            workflow_id=workflow_id,
            workflow_version=1,
            input={"n": 1},
            request_id=f"req-{self.execution_id}",
            search_attributes=search,
        )

    def scheduled(self, node: str, attempt: int = 1, scope: str = "") -> History:
        return self.add(
            "ActivityTaskScheduled",
            activity_id=f"{node}@{scope}" if scope else node,
            node_id=node,
            scope=scope,
            node_type="http",
            task_queue="default",
            attempt=attempt,
            input={"node": node},
        )

    def activity_ok(self, node: str, result: Any = None, scope: str = "") -> History:
        act = f"{node}@{scope}" if scope else node
        self.scheduled(node, scope=scope)
        self.add("ActivityTaskStarted", activity_id=act, attempt=1, identity="w")
        self.add("ActivityTaskCompleted", activity_id=act, attempt=1, result=result)
        return self.add("NodeCompleted", node_id=node, scope=scope, output=result, handle="success")


def error(message: str) -> dict[str, Any]:
    return {"type": "HttpError", "message": message, "retryable": True, "node_id": None}


def simple_history(execution_id: str, activities: int = 2) -> History:
    """Started, `activities` activities of 4 events each, completed: 2 + 4n events."""
    h = History(execution_id).started()
    for i in range(activities):
        h.activity_ok(f"step{i}", result={"i": i})
    return h.add("WorkflowExecutionCompleted", output={"done": True})


def produce(
    bootstrap: str, topic: str, records: Iterable[dict[str, Any] | tuple[bytes, bytes]]
) -> int:
    """Produce history events (dicts, encoded here) or raw (key, value) pairs, in order."""
    producer = Producer(transport.producer_config(bootstrap, **{"linger.ms": 20}))
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    count = 0
    for record in records:
        if isinstance(record, tuple):
            key, value = record
        else:
            key, value = record["execution_id"].encode(), encode_history(record)
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
    assert producer.flush(60) == 0
    assert not failures, failures
    return count


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[Any]:
    consumer = Consumer(transport.consumer_config(bootstrap, unique("test-reader")))
    consumer.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            out.extend(m for m in consumer.consume(100, 0.5) if m.error() is None)
    finally:
        consumer.close()
    return out


class Db:
    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)

    def one(self, sql: str, *params: Any) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row is not None else None

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def events_count(self, prefix: str) -> int:
        return int(
            self.one("SELECT count(*) FROM history_events WHERE execution_id LIKE %s", prefix + "%")
        )

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def database(url: str) -> Iterator[Db]:
    db = Db(url)
    try:
        yield db
    finally:
        db.close()


@contextlib.contextmanager
def sink_thread(config: SinkConfig) -> Iterator[Sink]:
    """Run a sink in this process (its metrics land in this process's registry)."""
    sink = Sink(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            sink.run()
        except BaseException as exc:
            failure.append(exc)
            raise

    thread = threading.Thread(target=run, name="sink", daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.stop()
        thread.join(60)
        assert not thread.is_alive(), "the sink did not stop"
    assert not failure, failure


class SinkProcess:
    """`linkflow sink run` as a child process, for kills and signals."""

    def __init__(
        self,
        bootstrap: str,
        database_url: str,
        topic: str,
        group: str,
        extra: Sequence[str] = (),
        log_path: Path | None = None,
    ) -> None:
        env = dict(os.environ)
        env["LINKFLOW_KAFKA_BOOTSTRAP"] = bootstrap
        env["LINKFLOW_DATABASE_URL"] = database_url
        self.log_path = log_path
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "linkflow.cli.main",
                "sink",
                "run",
                "--topic",
                topic,
                "--group",
                group,
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def __enter__(self) -> SinkProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.alive():
            self.kill()


class TcpProxy:
    """A TCP proxy in front of PostgreSQL that a test can take down and bring back: a database
    outage for one client, without touching the server other tests use."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections = 0

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def url(self, database_url: str) -> str:
        info = psycopg.conninfo.conninfo_to_dict(database_url)
        info["host"] = "127.0.0.1"
        info["port"] = str(self.port)
        return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items()})

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def metric(name: str, labels: dict[str, str] | None = None) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(name, labels or {})
    return float(value) if value is not None else 0.0
