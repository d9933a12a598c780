"""`linkflow replay`: decide recorded histories again with this installation's engine and
the registered definitions, and report the first divergent event of each (see
`linkflow.engine.replay`). Reads through the HTTP API, like `linkflow history`.

    linkflow replay ID [ID ...]                           # after upgrading LinkFlow
    linkflow replay --workflow W --version 2 --sample 50  # before rolling out version 2
    linkflow replay --workflow W --definition v2.json     # ... not registered yet

Exit codes: 0 no divergence, 1 a divergence (or the API refused), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from linkflow.api.remote import RemoteApi
from linkflow.cli.executions import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    _in_path,
    add_common,
    print_json,
    runner,
)
from linkflow.engine.events import HistoryEvent, WorkflowExecutionStarted
from linkflow.engine.replay import ReplayResult, replay
from linkflow.limits import HISTORY_EVENTS
from linkflow.model import Catalog, DefinitionError
from linkflow.model.definition import child_workflow_ids
from linkflow.worker.registry import installed_node_types


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay executions through the current engine and report divergences",
        description="Fold each execution's history through this installation's engine and "
        "the workflow definitions registered when it started, and report the first event "
        "the engine now decides differently. With --workflow, replay a sample of recent "
        "executions of that workflow as if they had run on another version (--version, "
        "registered, or --definition, a file not registered yet).",
    )
    parser.add_argument("execution_ids", nargs="*", metavar="ID", help="executions to replay")
    parser.add_argument(
        "--workflow", default=None, help="replay recent executions of this workflow"
    )
    parser.add_argument(
        "--version", type=int, default=None, help="with --workflow: replay on this version"
    )
    parser.add_argument(
        "--definition",
        type=Path,
        default=None,
        help="with --workflow: replay on this definition file (JSON), not registered",
    )
    parser.add_argument(
        "--sample", type=int, default=20, help="with --workflow: how many recent executions (20)"
    )
    add_common(parser)
    parser.set_defaults(func=runner(_replay))


def _replay(args: argparse.Namespace, api: RemoteApi) -> int:
    if bool(args.execution_ids) == bool(args.workflow):
        print("error: name execution ids, or --workflow (not both)", file=sys.stderr)
        return EXIT_USAGE
    if (args.version is not None or args.definition is not None) and not args.workflow:
        print("error: --version and --definition go with --workflow", file=sys.stderr)
        return EXIT_USAGE
    definitions = _Definitions(api)
    shadow: int | None = None
    if args.definition is not None:
        try:
            document = json.loads(args.definition.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"error: cannot read {args.definition}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if document.get("id") != args.workflow:
            print(
                f"error: {args.definition} defines {document.get('id')!r}, not {args.workflow!r}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        shadow = int(document.get("version") or 0)
        definitions.add(document)
    elif args.version is not None:
        shadow = args.version
        if not definitions.has(args.workflow, args.version):
            print(f"error: workflow {args.workflow!r} has no version {shadow}", file=sys.stderr)
            return EXIT_FAILED
    ids = args.execution_ids or _recent(api, args.workflow, args.sample)
    results: list[tuple[ReplayResult | None, str]] = []
    for execution_id in ids:
        history = _history(api, execution_id)
        if not history:
            results.append((None, f"{execution_id}: no history"))
            continue
        first = history[0]
        if not isinstance(first.attributes, WorkflowExecutionStarted):
            results.append((None, f"{execution_id}: history does not begin with a start"))
            continue
        try:
            catalog = definitions.catalog(first.attributes, first.timestamp_ms, shadow)
        except DefinitionError as exc:
            results.append((None, f"{execution_id}: a definition does not load here: {exc}"))
            continue
        result = replay(
            history, catalog, workflow_version=shadow, max_history_events=HISTORY_EVENTS.value()
        )
        results.append((result, ""))
        if not args.json:
            _print(result)
    problems = [text for result, text in results if result is None]
    divergent = [r for r, _ in results if r is not None and not r.ok]
    if args.json:
        print_json([_json(r, text) for r, text in results])
    else:
        for text in problems:
            print(text)
        on = f" on version {shadow}" if shadow is not None else ""
        summary = f"{len(divergent)} divergent, {len(problems)} not replayable"
        print(f"\n{len(results)} replayed{on}: {summary}")
    return EXIT_FAILED if divergent or problems else EXIT_OK


class _Definitions:
    """Definitions fetched from the API as needed, each with its registration time, so an
    execution replays on the versions that existed when it started (a child workflow
    started then took the latest version of that time)."""

    def __init__(self, api: RemoteApi) -> None:
        self.api = api
        self.versions: dict[str, list[tuple[int, dict[str, Any]]]] = {}  # id -> (ms, doc)
        self.extra: list[dict[str, Any]] = []

    def add(self, document: dict[str, Any]) -> None:
        self.extra.append(document)
        self._fetch(document["id"])

    def has(self, workflow_id: str, version: int) -> bool:
        return any(d.get("version") == version for _, d in self._fetch(workflow_id))

    def catalog(self, started: WorkflowExecutionStarted, at_ms: int, shadow: int | None) -> Catalog:
        """The execution's own version (or the `shadow` one), and of the workflows it may
        start as children the versions registered by `at_ms`, when it started."""
        versions = (started.workflow_version, shadow)
        documents = [d for _, d in self._fetch(started.workflow_id) if d.get("version") in versions]
        documents += self.extra
        pending = [child for d in documents for child in child_workflow_ids(d)]
        seen: set[str] = set()
        while pending:
            workflow_id = pending.pop()
            if workflow_id in seen:
                continue
            seen.add(workflow_id)
            for registered_ms, document in self._fetch(workflow_id):
                if registered_ms <= at_ms:
                    documents.append(document)
                    pending.extend(child_workflow_ids(document))
        unique = {(d["id"], d.get("version")): d for d in documents}
        # The API shows only the caller's workspace, which is the execution's.
        catalog = Catalog(registry=installed_node_types())
        for document in unique.values():
            catalog.register(document, started.workspace)
        return catalog

    def _fetch(self, workflow_id: str) -> list[tuple[int, dict[str, Any]]]:
        if workflow_id not in self.versions:
            answer = self.api.get(f"/v1/workflows/{_in_path(workflow_id)}")
            self.versions[workflow_id] = [
                (_ms(v["registered_at"]), v["definition"]) for v in answer["versions"]
            ]
        return self.versions[workflow_id]


def _recent(api: RemoteApi, workflow_id: str, sample: int) -> list[str]:
    page = api.get("/v1/executions", workflow_id=workflow_id, limit=sample, order="desc")
    return [e["execution_id"] for e in page["executions"]]


def _history(api: RemoteApi, execution_id: str) -> list[HistoryEvent]:
    events: list[HistoryEvent] = []
    after: int | None = 0
    while after is not None:
        page = api.get(f"/v1/executions/{_in_path(execution_id)}/history", after=after, limit=1000)
        for e in page["events"]:
            events.append(
                HistoryEvent.from_dict(
                    {**e, "execution_id": execution_id, "timestamp_ms": _ms(e["event_time"])}
                )
            )
        after = page["next_after"]
    return events


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(rfc3339: str) -> int:
    """Epoch milliseconds of an API time (exact: the API keeps microseconds)."""
    moment = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _print(result: ReplayResult) -> None:
    if result.divergence is None:
        print(f"{result.execution_id}: ok ({result.events} events)")
    else:
        print(f"{result.execution_id}: {result.divergence.describe()}")


def _json(result: ReplayResult | None, problem: str) -> dict[str, Any]:
    if result is None:
        return {"ok": False, "problem": problem}
    divergence = result.divergence
    return {
        "execution_id": result.execution_id,
        "ok": result.ok,
        "events": result.events,
        "divergence": None
        if divergence is None
        else {
            "event_id": divergence.event_id,
            "reason": divergence.reason,
            "recorded": divergence.recorded and divergence.recorded.to_dict(),
            "replayed": divergence.replayed and divergence.replayed.to_dict(),
        },
    }
