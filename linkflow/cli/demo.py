"""`linkflow demo`: the README's main command.

Brings the local stack up (or checks the external one), applies the topic specs, starts the
runtime (history and timers processors, workers, visibility sink, query API) in the
background, registers an example workflow and runs a few executions of it, printing each
outcome and history. Everything stays up afterwards; `linkflow dev down` stops it.

The example calls a small HTTP server this command runs itself (so it needs nothing from
outside): fetch an order, branch on its amount, run two steps in parallel and join, wait a
second, then charge through an endpoint that fails the first call of each execution and
succeeds on the retry.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from linkflow import dev
from linkflow.dev import background, services

WORKFLOW_ID = "demo-order"
ORDERS = [("A-100", 250), ("A-101", 40), ("A-102", 999), ("A-103", 75)]
OUTCOME_TIMEOUT = 180.0  # the first run waits for every process to join its group


def _step(text: str) -> None:
    print(f"==> {text}", flush=True)


def example_workflow(base_url: str) -> dict[str, Any]:
    return {
        "id": WORKFLOW_ID,
        "version": 1,
        "name": "Order fulfilment (LinkFlow demo)",
        "nodes": [
            {"id": "start", "type": "trigger"},
            {
                "id": "fetch",
                "type": "http",
                "config": {
                    "url": base_url + "/orders/{{ trigger.order_id }}",
                    "query": {"amount": "{{ trigger.amount }}"},
                },
            },
            {"id": "big", "type": "if", "config": {"condition": "nodes.fetch.body.amount > 100"}},
            {"id": "reserve", "type": "echo", "config": {"value": "reserved"}},
            {"id": "notify", "type": "echo", "config": {"value": "warehouse notified"}},
            {"id": "express", "type": "echo", "config": {"value": "small order: express lane"}},
            {"id": "join", "type": "merge", "config": {"mode": "all"}},
            {"id": "cool_off", "type": "wait", "config": {"duration": "1s"}},
            {
                "id": "charge",
                "type": "http",
                "config": {"method": "POST", "url": base_url + "/charge/{{ execution.id }}"},
                "retry": {"max_attempts": 3, "initial_interval": "200ms"},
            },
            {
                "id": "done",
                "type": "set",
                "config": {
                    "values": {
                        "order": "{{ trigger.order_id }}",
                        "charged": "{{ nodes.charge.body.charged }}",
                    }
                },
            },
        ],
        "edges": [
            {"source": "start", "target": "fetch"},
            {"source": "fetch", "target": "big"},
            {"source": "big", "target": "reserve", "handle": "true"},
            {"source": "big", "target": "notify", "handle": "true"},
            {"source": "big", "target": "express", "handle": "false"},
            {"source": "reserve", "target": "join"},
            {"source": "notify", "target": "join"},
            {"source": "express", "target": "join"},
            {"source": "join", "target": "cool_off"},
            {"source": "cool_off", "target": "charge"},
            {"source": "charge", "target": "done"},
        ],
    }


class _Shop(BaseHTTPRequestHandler):
    charges: dict[str, int] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:  # /orders/<id>?amount=N
        path, _, query = self.path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        amount = float(params.get("amount", "0"))
        self._json(200, {"id": path.rsplit("/", 1)[-1], "amount": amount})

    def do_POST(self) -> None:  # /charge/<execution id>: 503 the first time, then 200
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            calls = self.charges[self.path] = self.charges.get(self.path, 0) + 1
        if calls == 1:
            self._json(503, {"error": "payment service warming up, try again"})
        else:
            self._json(200, {"charged": True, "attempt": calls})

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _shop() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _describe(event: dict[str, Any]) -> str:
    a = event["attributes"]
    what = a.get("node_id") or a.get("activity_id") or a.get("timer_id") or ""
    extra = ""
    if event["event_type"] in ("ActivityTaskScheduled", "ActivityTaskFailed"):
        extra = f" attempt {a.get('attempt')}"
    if event["event_type"] == "ActivityTaskFailed":
        extra += f": {a['error']['type']}: {a['error']['message'][:60]}"
    if event["event_type"] == "WorkflowExecutionCompleted":
        extra = f" output={json.dumps(a.get('output'))}"
    return f"      {event['event_id']:>3} {event['event_type']:<32} {what}{extra}"


def _run(args: argparse.Namespace) -> int:
    from linkflow.client import Client
    from linkflow.client.client import WaitTimeout
    from linkflow.topics import apply_topics

    _step("bringing the local stack up (Kafka, PostgreSQL)")
    try:
        stack = dev.up()
    except dev.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _step("applying topics/")
    plan = apply_topics(stack.kafka_bootstrap_servers)
    print("\n".join(f"    {line}" for line in plan.lines()) or "    no changes")

    api_port = services.api_port(args.api_port)
    runtime = services.runtime_services(api_port)
    _step("starting the runtime (`linkflow up`): " + ", ".join(s.name for s in runtime))
    running = background.status()
    if running is not None:
        print(f"    already running (supervisor pid {running.pid}); `linkflow ps` shows it")
    else:
        try:
            background.start([f"--api-port={api_port}"], [s.name for s in runtime])
        except background.StartFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"    started, supervised; logs in {services.log_path(runtime[0]).parent}")

    failures = 0
    with _shop() as base_url, Client(stack.kafka_bootstrap_servers) as client:
        _step(f"registering workflow {WORKFLOW_ID!r} (HTTP server for it at {base_url})")
        client.register(example_workflow(base_url))
        _step(f"starting {len(ORDERS)} executions")
        ids = []
        for order_id, amount in ORDERS:
            ids.append(client.start(WORKFLOW_ID, {"order_id": order_id, "amount": amount}))
            print(f"    {order_id} (amount {amount}): execution {ids[-1]}")
        began = time.monotonic()
        for (order_id, _), execution_id in zip(ORDERS, ids, strict=True):
            try:
                outcome = client.wait(execution_id, timeout=OUTCOME_TIMEOUT)
            except WaitTimeout:
                print(
                    f"error: {execution_id} did not finish in {OUTCOME_TIMEOUT:g}s; see the "
                    f"logs in {services.log_path(runtime[0]).parent}",
                    file=sys.stderr,
                )
                failures += 1
                continue
            if outcome.status != "completed":
                failures += 1
            _step(f"{order_id}: {outcome.status} ({len(outcome.events)} history events)")
            for event in outcome.events:
                print(_describe(event))
        print(f"    all outcomes in {time.monotonic() - began:.1f}s")

    _step("LinkFlow is running")
    print(f"    Kafka bootstrap servers: {stack.kafka_bootstrap_servers}")
    print(f"    PostgreSQL database URL: {stack.database_url}")
    api = f"http://127.0.0.1:{api_port}"
    if _answers(f"{api}/healthz"):
        print(f"    query API:               {api}/v1/executions")
    else:
        failures += 1
        print(
            f"error: the query API does not answer on {api} (is the port taken?); see "
            f"{services.log_path(runtime[-1])}",
            file=sys.stderr,
        )
    print(f"    state directory:         {stack.state_dir}")
    print("    processes:               .venv/bin/linkflow ps")
    print("    stop the runtime:        .venv/bin/linkflow down (then `linkflow up` again)")
    print("    stop everything:         .venv/bin/linkflow dev down")
    return 1 if failures else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser("demo", help="bring everything up and run the demo")
    demo.add_argument(
        "--api-port",
        type=int,
        default=None,
        help="query API port (default: LINKFLOW_API_PORT, else 8080)",
    )
    demo.set_defaults(func=_run)


def _answers(url: str, timeout: float = 30.0) -> bool:
    """Whether `url` answers 200 within `timeout` seconds (the API starts in the
    background; it may take a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False
