"""`linkflow up`: the whole runtime in the foreground, restarting what crashes."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    up = subparsers.add_parser(
        "up",
        help="run the runtime in the foreground, restarting crashed processes",
        description="Bring the stack up (or check the external one), apply topics/, then run "
        "the history and timers processors, the workers, the sink and the API as child "
        "processes. A process that exits is started again after a backoff (1 s doubling "
        "to 30 s; back to 1 s once it stayed up a minute). SIGTERM or Ctrl-C stops them "
        "all. Logs: <state>/logs/<name>.log.",
    )
    up.add_argument("--api-port", type=int, default=None, help="API port (LINKFLOW_API_PORT)")
    up.add_argument("--no-api", action="store_true", help="run everything but the API")
    up.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds each process has to stop on SIGTERM before SIGKILL (default %(default)s)",
    )
    up.set_defaults(func=_up)


def _up(args: argparse.Namespace) -> int:
    from linkflow import dev
    from linkflow.dev import services
    from linkflow.dev.supervisor import Supervisor
    from linkflow.topics import apply_topics

    try:
        stack = dev.up()
    except dev.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    apply_topics(stack.kafka_bootstrap_servers)
    runtime = services.runtime_services(args.api_port)
    if args.no_api:
        runtime = [s for s in runtime if s.name != "api"]
    already = [s.name for s in runtime if services.running(s) is not None]
    if already:
        print(
            f"error: {', '.join(already)} already running (linkflow demo?); "
            "stop them with `linkflow dev down` first",
            file=sys.stderr,
        )
        return 1
    return Supervisor(runtime, grace=args.grace).run()
