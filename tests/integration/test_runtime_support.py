"""Helpers for the end-to-end tests: a whole LinkFlow runtime (history processor, timers
processor, workers) as child processes on topics of its own, a client for them, and a small
HTTP server for `http` nodes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from test_timers_support import ROOT, STARTUP, Topics, topics_of_our_own, wait_until

from linkflow.client import Client
from linkflow.client.client import Outcome

# An execution of a few steps takes well under a second; CI's two cores are shared.
OUTCOME_TIMEOUT = 90.0
# The broker's smallest allowed session timeout (group.min.session.timeout.ms): a killed
# processor's partitions go to the next member soonest.
SESSION_TIMEOUT = "6"


class Process:
    """One LinkFlow command as a child process, output to a log file."""

    def __init__(
        self, name: str, args: list[str], log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.args = args
        self.log = log
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *self.args], cwd=ROOT, stdout=out, stderr=out, env=env
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.alive():
            try:
                self.kill(signal.SIGTERM, timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _state(proc: Process) -> str:
    code = None if proc.proc is None else proc.proc.poll()
    return "running" if code is None else f"exit status {code}"


@dataclass
class Runtime:
    topics: Topics
    workdir: Path
    client: Client
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return self.topics.prefix

    def _add(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Process:
        old = self.processes.get(name)
        if old is not None and old.alive():
            raise AssertionError(f"{name} is already running")
        proc = Process(name, args, self.workdir / f"{name}.log", env).start()
        self.processes[name] = proc
        return proc

    def start_engine(
        self,
        name: str = "engine",
        *extra: str,
        datadir: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Process:
        """A history processor; `datadir` names another's local store to reuse (a restart in
        place), by default its own."""
        return self._add(
            name,
            [
                "-m",
                "processors.history",
                "--bootstrap",
                self.topics.bootstrap,
                "--app-id",
                f"{self.prefix}history",
                "--datadir",
                str(self.workdir / f"{datadir or name}-data"),
                "--topic-prefix",
                self.prefix,
                "--session-timeout",
                SESSION_TIMEOUT,
                *extra,
            ],
            env,
        )

    def start_timers(self, name: str = "timers", datadir: str | None = None) -> Process:
        return self._add(
            name,
            [
                "-m",
                "processors.timers",
                "--bootstrap",
                self.topics.bootstrap,
                "--app-id",
                f"{self.prefix}timers",
                "--datadir",
                str(self.workdir / f"{datadir or name}-data"),
                "--topic-prefix",
                self.prefix,
                "--session-timeout",
                SESSION_TIMEOUT,
                "--tick",
                "0.2",
                "--resend-interval",
                "2",
            ],
        )

    def start_worker(self, name: str = "worker", queue: str = "default", *extra: str) -> Process:
        return self._add(
            name,
            [
                "-m",
                "linkflow.cli.main",
                "worker",
                "--queue",
                queue,
                "--bootstrap-servers",
                self.topics.bootstrap,
                "--topic-prefix",
                self.prefix,
                "--identity",
                name,
                "--consumer-config",
                "session.timeout.ms=6000",
                *extra,
            ],
        )

    def start_sink(self, database_url: str, name: str = "sink") -> Process:
        """The visibility sink on this runtime's history topic, into `database_url`."""
        return self._add(
            name,
            [
                "-m",
                "linkflow.cli.main",
                "sink",
                "run",
                "--bootstrap",
                self.topics.bootstrap,
                "--database-url",
                database_url,
                "--topic",
                self.prefix + "linkflow.history",
                "--dlq-topic",
                self.prefix + "linkflow.dlq",
                "--group",
                f"{self.prefix}sink",
            ],
        )

    def start_api(
        self, database_url: str, port: int, name: str = "api", env: dict[str, str] | None = None
    ) -> Process:
        """The HTTP API on `port`, on this runtime's topics."""
        return self._add(
            name,
            [
                "-m",
                "linkflow.cli.main",
                "api",
                "serve",
                "--port",
                str(port),
                "--bootstrap",
                self.topics.bootstrap,
                "--database-url",
                database_url,
                "--no-migrate",
                "--topic-prefix",
                self.prefix,
            ],
            env,
        )

    def start_with_sink(self, database_url: str) -> None:
        """History and timers processors, a default-queue worker and the sink, ready."""
        self.start_engine()
        self.start_timers()
        self.start_worker("worker", "default")
        self.start_sink(database_url)
        self.ready()

    def start_all(self) -> None:
        self.start_engine()
        self.start_timers()
        self.start_worker("worker", "default")
        self.start_worker("http-worker", "http")

    def check_alive(self) -> None:
        for proc in self.processes.values():
            if proc.proc is not None and proc.proc.returncode not in (None, -9, -15, 0):
                raise AssertionError(f"{proc.name} exited:\n{proc.log_text()[-4000:]}")

    def logs(self) -> str:
        return "\n".join(
            f"----- {p.name} ({_state(p)}) -----\n{p.log_text()[-3000:]}"
            for p in self.processes.values()
        )

    def register(self, definition: dict[str, Any]) -> None:
        self.client.register(definition)

    def run(self, workflow_id: str, input: Any = None, **kwargs: Any) -> Outcome:
        execution_id = self.client.start(workflow_id, input, **kwargs)
        return self.wait(execution_id)

    def wait(self, execution_id: str, timeout: float = OUTCOME_TIMEOUT) -> Outcome:
        try:
            return self.client.wait(execution_id, timeout=timeout)
        except TimeoutError:
            raise AssertionError(
                f"{execution_id} did not finish within {timeout}s\n{self.logs()}"
            ) from None

    def history(self, execution_id: str) -> list[dict[str, Any]]:
        return self.client.history(execution_id, timeout=30)

    def wait_for_event(
        self, execution_id: str, event_type: str, timeout: float = OUTCOME_TIMEOUT
    ) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            self.check_alive()
            for event in self.client.history(execution_id, timeout=5):
                if event["event_type"] == event_type:
                    return event
            return None

        return wait_until(found, timeout, f"{event_type} in {execution_id}", interval=0.2)

    def ready(self) -> None:
        """Until a trivial workflow runs end to end (every process joined its group)."""
        probe = f"probe-{uuid.uuid4().hex[:6]}"
        self.register(linear(probe, ["noop"]))
        outcome = self.wait(self.client.start(probe, {}), timeout=STARTUP)
        assert outcome.status == "completed", outcome


@contextmanager
def runtime(
    bootstrap: str, tmp_path: Path, name: str, *, start: bool = True, partitions: int | None = None
) -> Iterator[Runtime]:
    with topics_of_our_own(bootstrap, name, partitions) as topics:
        client = Client(bootstrap, topic_prefix=topics.prefix)
        rt = Runtime(topics, tmp_path, client)
        try:
            if start:
                rt.start_all()
                rt.ready()
            yield rt
        finally:
            for proc in rt.processes.values():
                proc.stop()
            client.close()


@contextmanager
def runtime_with_api(
    bootstrap: str, database_url: str, tmp_path: Path, name: str
) -> Iterator[tuple[Runtime, str]]:
    """A runtime with the sink and the API on its topics; the API's base URL."""
    with runtime(bootstrap, tmp_path, name, start=False) as rt:
        port = free_port()
        rt.start_api(database_url, port)
        rt.start_with_sink(database_url)
        yield rt, f"http://127.0.0.1:{port}"


def linear(workflow_id: str, steps: list[str], **node_config: Any) -> dict[str, Any]:
    """trigger -> one node per entry of `steps` (a node type), in a line."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "trigger"}]
    edges = []
    previous = "start"
    for i, node_type in enumerate(steps, 1):
        node_id = f"s{i}"
        nodes.append({"id": node_id, "type": node_type, "config": node_config.get(node_id, {})})
        edges.append({"source": previous, "target": node_id})
        previous = node_id
    return {"id": workflow_id, "version": 1, "nodes": nodes, "edges": edges}


def unique_id(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


class _Handler(BaseHTTPRequestHandler):
    server: HttpServer

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        status, payload = self.server.respond(parts, body, dict(self.headers))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class HttpServer(ThreadingHTTPServer):
    """/echo (the request body back), /flaky/<key> (503 on the first call per key, then
    200), /status/<code>, /headers/<code> (the request headers back with that status);
    counts calls per path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: dict[str, int] = {}
        self.headers_seen: list[dict[str, str]] = []  # of /headers/<code> calls
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def respond(
        self, parts: list[str], body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        path = "/".join(parts)
        with self._lock:
            self.calls[path] = count = self.calls.get(path, 0) + 1
        if parts[0] == "flaky":
            return (
                (503, {"error": "try again"}) if count == 1 else (200, {"ok": True, "calls": count})
            )
        if parts[0] == "status":
            return int(parts[1]), {"status": int(parts[1])}
        if parts[0] == "headers":
            self.headers_seen.append(dict(headers or {}))
            return int(parts[1]), {"headers": headers or {}}
        with contextlib.suppress(ValueError):
            return 200, {"echo": json.loads(body or b"null"), "path": path}
        return 200, {"echo": body.decode(errors="replace"), "path": path}


@contextmanager
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 30) -> tuple[int, Any, float]:
    """Status (0: no connection), JSON body and seconds taken of a GET."""
    began = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError):
        return 0, None, time.monotonic() - began
    return status, json.loads(body or b"null"), time.monotonic() - began
