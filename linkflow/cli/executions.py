"""`linkflow start | get | list | history | signal | cancel | terminate | watch`: executions
through the HTTP query service (`--api URL` or LINKFLOW_API_URL), so they work remotely.

Output is a table for people or `--json` for programs. Exit codes: 0 done (for `start
--wait` and `watch`: the execution completed), 1 the API refused or the execution ended in
another status, 2 bad usage, 3 still running when `--wait` gave up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

from linkflow import transport
from linkflow.api.remote import ENV_API_PORT, ENV_API_URL, RemoteApi, RemoteError

TERMINAL = {"completed", "failed", "timed_out", "canceled", "terminated", "continued_as_new"}
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RUNNING = 0, 1, 2, 3
# The API caps one `?wait=` at 60 s; longer waits continue by polling `get`.
_WAIT_CHUNK = 60.0

Command = Callable[[argparse.Namespace, RemoteApi], int]


# -- shared plumbing (also used by linkflow.cli.workflows) --------------------------------


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        default=None,
        metavar="URL",
        help=(
            f"query service URL (default ${ENV_API_URL}, else http://127.0.0.1:${ENV_API_PORT}, "
            "else http://127.0.0.1:8080)"
        ),
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def runner(command: Command) -> Callable[[argparse.Namespace], int]:
    """Wraps a command: builds the client, turns API errors into a message and exit 1."""

    def run(args: argparse.Namespace) -> int:
        api = RemoteApi(args.api)
        try:
            return command(args, api)
        except RemoteError as exc:
            if getattr(args, "json", False) and exc.body is not None:
                print_json(exc.body)
            else:
                print(f"error: {exc}", file=sys.stderr)
                for problem in (exc.body or {}).get("error", {}).get("problems", []) or []:
                    print(f"  - {_problem(problem)}", file=sys.stderr)
            return EXIT_FAILED

    return run


def _problem(problem: dict[str, Any]) -> str:
    where = [
        f"{label} {problem[key]}"
        for key, label in (("node_id", "node"), ("edge", "edge"), ("field", "field"))
        if problem.get(key)
    ]
    return (", ".join(where) + ": " if where else "") + str(problem.get("message"))


def json_arg(text: str) -> Any:
    """A payload given as JSON (--input, --payload), refused before anything is sent when
    it is above the payload limit."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    try:
        transport.check_payload("the value", value)
    except transport.PayloadTooLarge as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def pair_arg(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return _short(json.dumps(value, separators=(",", ":")))
    return str(value)


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _time(value: str | None) -> str:
    # "2025-01-02T03:04:05.678901Z" -> "2025-01-02 03:04:05.678": tables need no more.
    if not value:
        return "-"
    return value.replace("T", " ")[:23]


# -- commands ----------------------------------------------------------------------------


def _start(args: argparse.Namespace, api: RemoteApi) -> int:
    body: dict[str, Any] = {"workflow_id": args.workflow, "input": args.input}
    if args.version is not None:
        body["workflow_version"] = args.version
    if args.idempotency_key is not None:
        body["idempotency_key"] = args.idempotency_key
    if args.search_attribute:
        body["search_attributes"] = dict(args.search_attribute)
    wait = args.timeout if args.wait else 0.0
    deadline = time.monotonic() + wait
    _, answer = api.call(
        "POST",
        "/v1/executions",
        {"wait": min(wait, _WAIT_CHUNK) if wait else None},
        body,
        timeout=min(wait, _WAIT_CHUNK) + 30,
    )
    execution_id = answer["execution_id"]
    if not args.wait:
        if args.json:
            print_json(answer)
        else:
            print(execution_id)
        return EXIT_OK
    execution = wait_for_close(api, execution_id, answer.get("execution"), deadline)
    return print_outcome(args, answer, execution)


def wait_for_close(
    api: RemoteApi, execution_id: str, execution: dict[str, Any] | None, deadline: float
) -> dict[str, Any] | None:
    """The execution once closed, or as last seen (None: not visible yet) at `deadline`."""
    while (
        execution is None or execution["status"] not in TERMINAL
    ) and time.monotonic() < deadline:
        time.sleep(0.5)  # polling the API (a start waited its first minute server-side)
        try:
            execution = api.get(f"/v1/executions/{_in_path(execution_id)}")
        except RemoteError as exc:
            if exc.status != 404:  # 404: not projected yet
                raise
    return execution


def print_outcome(
    args: argparse.Namespace, answer: dict[str, Any], execution: dict[str, Any] | None
) -> int:
    """What `--wait` prints, and its exit code."""
    if args.json:
        print_json({**answer, "execution": execution})
    else:
        print(answer["execution_id"])
        if execution is not None:
            _print_execution(execution)
    if execution is None or execution["status"] not in TERMINAL:
        print(f"still running after {args.timeout:g} s", file=sys.stderr)
        return EXIT_RUNNING
    return EXIT_OK if execution["status"] == "completed" else EXIT_FAILED


def _get(args: argparse.Namespace, api: RemoteApi) -> int:
    execution = api.get(f"/v1/executions/{_in_path(args.execution_id)}")
    if args.json:
        print_json(execution)
    else:
        _print_execution(execution)
    return EXIT_OK


def _print_execution(execution: dict[str, Any]) -> None:
    fields = [
        ("execution", execution["execution_id"]),
        ("workflow", f"{execution['workflow_id']} v{execution['workflow_version']}"),
        (
            "status",
            execution["status"]
            + (
                " (cancel requested)"
                if execution.get("cancel_requested") and execution["status"] == "running"
                else ""
            ),
        ),
        ("started", _time(execution["started_at"])),
        ("closed", _time(execution["closed_at"])),
        ("events", execution["last_event_id"]),
    ]
    if execution.get("parent_execution_id"):
        fields.append(("parent", execution["parent_execution_id"]))
    if execution.get("search_attributes"):
        fields.append(("attributes", _cell(execution["search_attributes"])))
    fields.append(("input", _cell(execution.get("input"))))
    if execution["status"] == "completed":
        fields.append(("output", _cell(execution.get("output"))))
    if execution.get("error"):
        error = execution["error"]
        fields.append(("error", f"{error.get('type', 'Error')}: {error.get('message', '')}"))
    if execution.get("close_reason"):
        fields.append(("reason", execution["close_reason"]))
    cost = execution.get("cost")
    if cost:
        fields.append(("cost", _cost(cost)))
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        print(f"{name.ljust(width)}  {value}")
    nodes = execution.get("nodes") or []
    if nodes:
        print()
        print(
            table(
                [
                    "node",
                    "scope",
                    "type",
                    "status",
                    "attempt",
                    "started",
                    "finished",
                    "ran",
                    "detail",
                ],
                [
                    [
                        n["node_id"],
                        n["scope"] or "",
                        n.get("node_type"),
                        n["status"],
                        n["attempt"] or "",
                        _time(n.get("started_at") or n.get("scheduled_at")),
                        _time(n.get("finished_at")),
                        _ran(n),
                        _node_detail(n),
                    ]
                    for n in nodes
                ],
            )
        )


def _cost(cost: dict[str, Any]) -> str:
    parts = [
        f"{cost['activity_ms'] / 1000:.3f} s of activities",
        f"{cost['attempts']} attempt(s)",
        f"{cost['bytes']} bytes",
    ]
    parts += [f"{name} {total:g}" for name, total in sorted((cost.get("usage") or {}).items())]
    return ", ".join(parts)


def _ran(node: dict[str, Any]) -> str:
    """How long its handler ran (over all attempts), and what it reported using."""
    if node.get("duration_ms") is None:
        return ""
    usage = node.get("usage") or {}
    extra = "".join(f" {name}={total:g}" for name, total in sorted(usage.items()))
    return f"{node['duration_ms'] / 1000:.3f}s{extra}"


def _node_detail(node: dict[str, Any]) -> str:
    if node.get("error"):
        if node.get("routed"):
            how = "(routed) "
        elif node["status"] == "failed" and node.get("handle") == "success":
            how = "(continued) "  # on_error: continue
        else:
            how = ""
        # The marker first: a long message is cut at the end.
        return how + _short(node["error"].get("message", ""), 50 - len(how))
    if node.get("child_execution_id"):
        return f"child {node['child_execution_id']}"
    if node.get("handle") and node["handle"] != "success":
        return f"-> {node['handle']}"
    return ""


def _list(args: argparse.Namespace, api: RemoteApi) -> int:
    query: dict[str, Any] = {
        "status": args.status,
        "workflow_id": args.workflow,
        "started_after": args.started_after,
        "started_before": args.started_before,
        "order": args.order,
        "limit": args.limit,
        "cursor": args.cursor,
    }
    for name, value in args.search_attribute or []:
        query[f"sa.{name}"] = value
    page = api.get("/v1/executions", **query)
    if args.json:
        print_json(page)
        return EXIT_OK
    print(
        table(
            ["execution", "workflow", "version", "status", "started", "closed"],
            [
                [
                    e["execution_id"],
                    e["workflow_id"],
                    e["workflow_version"],
                    e["status"],
                    _time(e["started_at"]),
                    _time(e["closed_at"]),
                ]
                for e in page["executions"]
            ],
        )
    )
    if page["next_cursor"]:
        print(f"\nmore: --cursor {page['next_cursor']}", file=sys.stderr)
    return EXIT_OK


def _history(args: argparse.Namespace, api: RemoteApi) -> int:
    events: list[dict[str, Any]] = []
    after: int | None = args.after
    while after is not None:
        page = api.get(
            f"/v1/executions/{_in_path(args.execution_id)}/history", after=after, limit=1000
        )
        events.extend(page["events"])
        after = page["next_after"]
    if args.json:
        print_json(events)
        return EXIT_OK
    print(
        table(
            ["id", "time", "type", "attributes"],
            [
                [e["event_id"], _time(e["event_time"]), e["event_type"], e["attributes"]]
                for e in events
            ],
        )
    )
    return EXIT_OK


def _signal(args: argparse.Namespace, api: RemoteApi) -> int:
    answer = api.post(
        f"/v1/executions/{_in_path(args.execution_id)}/signal",
        {"name": args.name, "payload": args.payload},
    )
    return _accepted(args, answer, f"signal {args.name!r} sent")


def _stop(action: str) -> Command:
    def run(args: argparse.Namespace, api: RemoteApi) -> int:
        body: dict[str, Any] = {"reason": args.reason}
        answer = api.post(f"/v1/executions/{_in_path(args.execution_id)}/{action}", body)
        return _accepted(args, answer, f"{action} requested")

    return run


def _accepted(args: argparse.Namespace, answer: dict[str, Any], text: str) -> int:
    if args.json:
        print_json(answer)
    else:
        print(f"{text} (request {answer['request_id']})")
        if answer.get("execution_visible") is False:
            print(
                f"note: execution {answer['execution_id']!r} is not visible yet; the engine "
                "applies this after its start, or dead-letters it if it never started "
                "(linkflow dlq list)",
                file=sys.stderr,
            )
    return EXIT_OK


# -- watch ---------------------------------------------------------------------------------


class NodeProgress:
    """Folds history events into one line per change of a node instance's state."""

    def __init__(self) -> None:
        self.activities: dict[str, tuple[str, str]] = {}
        self.status = "running"

    def lines(self, event: dict[str, Any]) -> list[str]:
        kind, attrs = event["event_type"], event.get("attributes") or {}
        say = self._describe(kind, attrs)
        if say is None:
            return []
        return [f"{_time(event.get('event_time'))[11:]}  {say}"]

    def _node(self, attrs: dict[str, Any]) -> str:
        scope = attrs.get("scope") or ""
        return f"{attrs.get('node_id')}{f' [{scope}]' if scope else ''}"

    def _activity(self, attrs: dict[str, Any]) -> str:
        node_id, scope = self.activities.get(attrs.get("activity_id", ""), ("?", ""))
        return self._node({"node_id": node_id, "scope": scope})

    def _describe(self, kind: str, attrs: dict[str, Any]) -> str | None:
        if kind == "WorkflowExecutionStarted":
            return f"started {attrs.get('workflow_id')} v{attrs.get('workflow_version')}"
        if kind == "ActivityTaskScheduled":
            self.activities[attrs["activity_id"]] = (attrs["node_id"], attrs.get("scope") or "")
            what = f"{attrs.get('node_type')}, attempt {attrs.get('attempt')}"
            return f"{self._node(attrs)}  scheduled ({what})"
        if kind == "ActivityTaskStarted":
            return f"{self._activity(attrs)}  running (attempt {attrs.get('attempt')})"
        if kind == "ActivityTaskFailed":
            message = (attrs.get("error") or {}).get("message", "")
            return (
                f"{self._activity(attrs)}  attempt {attrs.get('attempt')} failed: {_short(message)}"
            )
        if kind == "ActivityTaskTimedOut":
            attempt, kind_ = attrs.get("attempt"), attrs.get("timeout_type")
            return f"{self._activity(attrs)}  attempt {attempt} timed out ({kind_})"
        if kind == "ActivityTaskCanceled":
            return f"{self._activity(attrs)}  canceled"
        if kind == "NodeCompleted":
            handle = attrs.get("handle")
            return f"{self._node(attrs)}  completed" + (
                f" -> {handle}" if handle and handle != "success" else ""
            )
        if kind == "NodeFailed":
            message = (attrs.get("error") or {}).get("message", "")
            routed = " (routed to error edge)" if attrs.get("routed") else ""
            return f"{self._node(attrs)}  failed{routed}: {_short(message)}"
        if kind == "NodeSkipped":
            return f"{self._node(attrs)}  skipped"
        if kind == "TimerStarted" and attrs.get("purpose") == "wait":
            return f"{self._node(attrs)}  waiting"
        if kind == "ChildWorkflowExecutionStarted":
            return f"{self._node(attrs)}  child {attrs.get('child_execution_id')} started"
        if kind == "WorkflowExecutionSignaled":
            return f"signal {attrs.get('signal_name')!r} received"
        if kind == "WorkflowExecutionCancelRequested":
            return "cancel requested"
        terminal = {
            "WorkflowExecutionCompleted": "completed",
            "WorkflowExecutionFailed": "failed",
            "WorkflowExecutionTimedOut": "timed_out",
            "WorkflowExecutionCanceled": "canceled",
            "WorkflowExecutionTerminated": "terminated",
            "WorkflowExecutionContinuedAsNew": "continued_as_new",
        }
        if kind in terminal:
            self.status = terminal[kind]
            detail = ""
            if kind == "WorkflowExecutionFailed":
                detail = f": {(attrs.get('error') or {}).get('message', '')}"
            return f"execution {self.status}{detail}"
        return None


def _watch(args: argparse.Namespace, api: RemoteApi) -> int:
    path = f"/v1/executions/{_in_path(args.execution_id)}/events"
    progress = NodeProgress()
    last: int | None = None
    appear_deadline = time.monotonic() + args.appear_timeout
    final: str | None = None
    while final is None:
        try:
            for message in api.events(path, last_event_id=last):
                if message.event == "end":
                    final = message.json()["status"]
                    break
                event = message.json()
                last = event["event_id"]
                if args.json:
                    print(json.dumps(event, separators=(",", ":")), flush=True)
                else:
                    for line in progress.lines(event):
                        print(line, flush=True)
        except RemoteError as exc:
            # A start is visible once the sink projected it; give it a moment to appear.
            if exc.status == 404 and last is None and time.monotonic() < appear_deadline:
                time.sleep(0.25)
                continue
            if exc.status == 0 and last is not None:
                time.sleep(1.0)  # the API restarted: resume after the last event seen
                continue
            raise
        except (ConnectionError, OSError):
            time.sleep(1.0)  # stream cut: Last-Event-ID resumes it with nothing lost
    return EXIT_OK if final == "completed" else EXIT_FAILED


# -- registration ------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    start = subparsers.add_parser("start", help="start an execution of a registered workflow")
    start.add_argument("workflow", help="workflow id")
    start.add_argument("--input", type=json_arg, default=None, help="execution input as JSON")
    start.add_argument("--version", type=int, default=None, help="workflow version (latest)")
    start.add_argument("--idempotency-key", default=None, help="start at most once per key")
    start.add_argument(
        "--sa",
        dest="search_attribute",
        type=pair_arg,
        action="append",
        metavar="NAME=VALUE",
        help="search attribute (repeatable)",
    )
    start.add_argument("--wait", action="store_true", help="wait for the execution to close")
    start.add_argument(
        "--timeout", type=float, default=300.0, help="seconds --wait waits at most (300)"
    )
    add_common(start)
    start.set_defaults(func=runner(_start))

    get = subparsers.add_parser("get", help="show an execution and the state of its nodes")
    get.add_argument("execution_id")
    add_common(get)
    get.set_defaults(func=runner(_get))

    listing = subparsers.add_parser("list", help="list executions, newest first")
    listing.add_argument("--status", action="append", help="filter by status (repeatable)")
    listing.add_argument("--workflow", action="append", help="filter by workflow id (repeatable)")
    listing.add_argument(
        "--sa",
        dest="search_attribute",
        type=pair_arg,
        action="append",
        metavar="NAME=VALUE",
        help="filter by search attribute (repeatable)",
    )
    listing.add_argument("--started-after", default=None, help="RFC 3339 time or epoch ms")
    listing.add_argument("--started-before", default=None, help="RFC 3339 time or epoch ms")
    listing.add_argument("--order", choices=("desc", "asc"), default=None)
    listing.add_argument("--limit", type=int, default=None, help="page size (50)")
    listing.add_argument("--cursor", default=None, help="continue after a previous page")
    add_common(listing)
    listing.set_defaults(func=runner(_list))

    history = subparsers.add_parser("history", help="print an execution's history events")
    history.add_argument("execution_id")
    history.add_argument("--after", type=int, default=0, help="only events after this id")
    add_common(history)
    history.set_defaults(func=runner(_history))

    signal = subparsers.add_parser("signal", help="send a named signal to an execution")
    signal.add_argument("execution_id")
    signal.add_argument("name", help="signal name")
    signal.add_argument("--payload", type=json_arg, default=None, help="payload as JSON")
    add_common(signal)
    signal.set_defaults(func=runner(_signal))

    for action, text in (
        ("cancel", "cancel an execution gracefully"),
        ("terminate", "terminate an execution immediately"),
    ):
        parser = subparsers.add_parser(action, help=text)
        parser.add_argument("execution_id")
        parser.add_argument("--reason", default="", help="recorded in the history")
        add_common(parser)
        parser.set_defaults(func=runner(_stop(action)))

    watch = subparsers.add_parser("watch", help="follow an execution's nodes live until it ends")
    watch.add_argument("execution_id")
    watch.add_argument(
        "--appear-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for a just-started execution to become visible (10)",
    )
    add_common(watch)
    watch.set_defaults(func=runner(_watch))


def _in_path(execution_id: str) -> str:
    """An execution id as one URL path segment: a child's id holds "/" (parent/node/...)."""
    return quote(execution_id, safe="")
