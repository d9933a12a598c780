"""`linkflow reset ID --to EVENT`: a new run of an execution that goes on from one of its
events (docs/workflows.md, Reset), through `POST /v1/executions/{id}/reset`.

Exit codes as `linkflow start`: 0 started (with --wait: completed), 1 refused or ended in
another status, 2 bad usage, 3 still running when --wait gave up.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from linkflow.api.remote import RemoteApi
from linkflow.cli.executions import (
    EXIT_OK,
    _in_path,
    add_common,
    print_json,
    print_outcome,
    runner,
    wait_for_close,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reset",
        help="start a new run of an execution from one of its events",
        description="Copy the execution's history up to EVENT (to the end of the decision "
        "that wrote it) into a new execution, which goes on from there: what ran before "
        "is kept, what came after runs again on today's workers. A running source is "
        "terminated. Prints the new execution id.",
    )
    parser.add_argument("execution_id", metavar="ID")
    parser.add_argument(
        "--to",
        dest="event_id",
        type=int,
        required=True,
        metavar="EVENT",
        help="event id to go on from (see `linkflow history ID`)",
    )
    parser.add_argument("--reason", default="", help="why (kept in the new run's history)")
    parser.add_argument("--wait", action="store_true", help="wait for the new run to close")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds --wait waits at most (300)"
    )
    add_common(parser)
    parser.set_defaults(func=runner(_reset))


def _reset(args: argparse.Namespace, api: RemoteApi) -> int:
    deadline = time.monotonic() + args.timeout
    _, answer = api.call(
        "POST",
        f"/v1/executions/{_in_path(args.execution_id)}/reset",
        None,
        {"event_id": args.event_id, "reason": args.reason},
    )
    if args.wait:
        execution = wait_for_close(api, answer["execution_id"], None, deadline)
        return print_outcome(args, answer, execution)
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(answer["execution_id"])
    kept = f"events 1-{answer['last_event_id']} of {answer['source_execution_id']} copied"
    stopped = "; the source is being terminated" if answer["source_terminated"] else ""
    print(kept + stopped, file=sys.stderr)
    return EXIT_OK
