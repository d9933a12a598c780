"""`linkflow workflows register FILE | list | get ID` through the HTTP query service."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from linkflow.api.remote import RemoteApi
from linkflow.cli.executions import (
    EXIT_OK,
    EXIT_USAGE,
    _time,
    add_common,
    print_json,
    runner,
    table,
)


def _register(args: argparse.Namespace, api: RemoteApi) -> int:
    path = Path(args.file)
    try:
        # YAML is a superset of JSON, so one loader reads both file kinds.
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _, answer = api.call("POST", "/v1/workflows", body=doc)
    if args.json:
        print_json(answer)
    elif answer["created"]:
        print(f"registered {answer['workflow_id']} version {answer['version']}")
    else:
        print(f"{answer['workflow_id']} version {answer['version']} was already registered")
    if not args.json:
        for warning in answer.get("warnings", []):
            where = f"node {warning['node_id']!r}: " if warning.get("node_id") else ""
            print(f"warning: {where}{warning['message']}", file=sys.stderr)
    return EXIT_OK


def _list(args: argparse.Namespace, api: RemoteApi) -> int:
    workflows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = api.get("/v1/workflows", limit=500, cursor=cursor)
        workflows.extend(page["workflows"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    if args.json:
        print_json(workflows)
        return EXIT_OK
    print(
        table(
            ["workflow", "latest", "versions", "name", "registered"],
            [
                [
                    w["workflow_id"],
                    w["latest_version"],
                    w["version_count"],
                    w["name"],
                    _time(w["last_registered_at"]),
                ]
                for w in workflows
            ],
        )
    )
    return EXIT_OK


def _get(args: argparse.Namespace, api: RemoteApi) -> int:
    workflow = api.get(f"/v1/workflows/{args.workflow_id}")
    if args.json:
        print_json(workflow)
        return EXIT_OK
    print(
        table(
            ["version", "registered", "nodes", "edges"],
            [
                [
                    v["version"],
                    _time(v["registered_at"]),
                    len(v["definition"].get("nodes") or []),
                    len(v["definition"].get("edges") or []),
                ]
                for v in workflow["versions"]
            ],
        )
    )
    return EXIT_OK


def register(subparsers: Any) -> None:
    workflows = subparsers.add_parser("workflows", help="register and list workflow definitions")
    actions = workflows.add_subparsers(dest="workflows_command", metavar="ACTION")
    workflows.set_defaults(func=lambda _args: _usage(workflows))

    reg = actions.add_parser(
        "register",
        help="validate and register a definition file (JSON or YAML)",
        description="Send the definition to the API, which validates it (every problem is "
        "listed with its node or edge and field) and publishes it to linkflow.definitions.",
    )
    reg.add_argument("file", help="definition file, .json or .yaml")
    add_common(reg)
    reg.set_defaults(func=runner(_register))

    listing = actions.add_parser("list", help="registered workflows and their latest version")
    add_common(listing)
    listing.set_defaults(func=runner(_list))

    get = actions.add_parser("get", help="a workflow's versions")
    get.add_argument("workflow_id")
    add_common(get)
    get.set_defaults(func=runner(_get))

    costs = actions.add_parser(
        "costs",
        help="what a workflow's executions used, summed",
        description="The executions of the workflow, the time their activities ran and the "
        "usage their handlers reported (tokens, usd, ...), summed.",
    )
    costs.add_argument("workflow_id")
    add_common(costs)
    costs.set_defaults(func=runner(_costs))


def _costs(args: argparse.Namespace, api: RemoteApi) -> int:
    answer = api.get(f"/v1/workflows/{args.workflow_id}/costs")
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(f"workflow: {answer['workflow_id']}")
    print(f"executions: {answer['executions']} ({answer['running']} running)")
    print(f"activity time: {answer['activity_ms'] / 1000:.3f} s")
    for name, total in sorted(answer["usage"].items()):
        print(f"{name}: {total:g}")
    return EXIT_OK


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_USAGE
