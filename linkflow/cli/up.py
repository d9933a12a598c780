"""`linkflow up | down | ps`: the whole runtime as supervised processes.

`up` starts the supervisor (`linkflow.dev.supervisor`) in the background and returns once
every process runs; `up --foreground` is the supervisor itself, for a container or a
terminal. `down` stops it and what it runs (Kafka and PostgreSQL stay up: `linkflow dev
down` stops those too). `ps` shows each process's pid, uptime, restarts and consumer lag.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from linkflow.dev.services import DEFAULT_WORKERS


def register(subparsers: Any) -> None:
    up = subparsers.add_parser(
        "up",
        help="start the runtime, supervised (restarts crashed processes)",
        description="Bring the stack up (or check the external one), apply topics/, then run "
        "the history and timers processors, the workers, the sink and the API as child "
        "processes of a supervisor, in the background (--foreground: in this terminal, "
        "for containers). A process that exits is started again after a backoff (1 s "
        "doubling to 30 s; back to 1 s once it stayed up a minute). `linkflow down` or "
        "SIGTERM to the supervisor stops them all. Logs: <state>/logs/<name>.log.",
    )
    up.add_argument("--api-port", type=int, default=None, help="API port (LINKFLOW_API_PORT)")
    up.add_argument("--no-api", action="store_true", help="run everything but the API")
    up.add_argument(
        "--workers",
        action="append",
        type=_workers_arg,
        default=[],
        metavar="QUEUE=N",
        help="worker processes for a task queue (repeatable; default "
        + ", ".join(f"{q}={n}" for q, n in DEFAULT_WORKERS.items())
        + ")",
    )
    up.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds each process has to stop on SIGTERM before SIGKILL (default %(default)s)",
    )
    up.add_argument(
        "--foreground", action="store_true", help="supervise in this process until SIGTERM"
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds `up` waits for every process to start (default %(default)s)",
    )
    up.set_defaults(func=_up)

    down = subparsers.add_parser(
        "down", help="stop the runtime `linkflow up` started (not Kafka or PostgreSQL)"
    )
    down.set_defaults(func=_down)

    ps = subparsers.add_parser(
        "ps", help="the runtime's processes: pid, uptime, restarts, consumer lag"
    )
    ps.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ps.add_argument("--no-lag", action="store_true", help="do not ask Kafka for consumer lag")
    ps.set_defaults(func=_ps)


def _workers_arg(text: str) -> tuple[str, int]:
    queue, sep, count = text.partition("=")
    if not sep or not queue or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected QUEUE=N, got {text!r}")
    return queue, int(count)


def _up(args: argparse.Namespace) -> int:
    from linkflow import dev
    from linkflow.dev import background, services
    from linkflow.dev.supervisor import Supervisor
    from linkflow.topics import apply_topics

    running = background.status()
    if running is not None:
        if args.foreground:
            print(f"error: a supervisor already runs (pid {running.pid})", file=sys.stderr)
            return 1
        print(f"linkflow up: already running (supervisor pid {running.pid})")
        return _ps(argparse.Namespace(json=False, no_lag=True))
    try:
        stack = dev.up()
    except dev.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    apply_topics(stack.kafka_bootstrap_servers)
    runtime = services.runtime_services(args.api_port, dict(args.workers))
    if args.no_api:
        runtime = [s for s in runtime if s.name != "api"]
    already = [s.name for s in runtime if services.running(s) is not None]
    if already:
        print(
            f"error: {', '.join(already)} already running outside `linkflow up`; "
            "stop them with `linkflow dev down` first",
            file=sys.stderr,
        )
        return 1
    if args.foreground:
        return Supervisor(runtime, grace=args.grace).run()
    up_args = [f"--grace={args.grace:g}"]
    if args.api_port is not None:
        up_args.append(f"--api-port={args.api_port}")
    if args.no_api:
        up_args.append("--no-api")
    up_args += [f"--workers={queue}={count}" for queue, count in args.workers]
    try:
        background.start(up_args, [s.name for s in runtime], timeout=args.timeout)
    except background.StartFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"linkflow up: started; logs in {background.log_path().parent}")
    return _ps(argparse.Namespace(json=False, no_lag=True))


def _down(_args: argparse.Namespace) -> int:
    from linkflow.dev import background

    if background.stop():
        print("linkflow down: stopped the runtime (Kafka and PostgreSQL: `linkflow dev down`)")
    else:
        print("linkflow down: the runtime was not running")
    return 0


def _ps(args: argparse.Namespace) -> int:
    from linkflow import settings
    from linkflow.dev import background
    from linkflow.dev.lag import group_of, lags

    current = background.status()
    if current is None:
        print("the runtime is not running (`linkflow up` starts it)", file=sys.stderr)
        return 1
    groups = {p["name"]: group_of(p["args"]) for p in current.processes}
    behind: dict[str, int | None] = {}
    if not args.no_lag:
        behind = lags(settings.kafka_bootstrap(), [g for g in groups.values() if g])
    now = time.time()
    rows = [
        {
            "name": p["name"],
            "pid": p["pid"],
            "uptime_seconds": None if p["started_at"] is None else round(now - p["started_at"]),
            "restarts": p["restarts"],
            "last_exits": p["exits"],
            "consumer_group": groups[p["name"]],
            "lag": behind.get(groups[p["name"]] or ""),
            "log": p["log"],
        }
        for p in current.processes
    ]
    if args.json:
        print(json.dumps({"supervisor_pid": current.pid, "processes": rows}, indent=1))
        return 0
    print(f"supervisor pid {current.pid}")
    header = ["NAME", "PID", "UPTIME", "RESTARTS", "LAG", "CONSUMER GROUP"]
    table = [
        [
            r["name"],
            str(r["pid"] or "starting"),
            _duration(r["uptime_seconds"]),
            str(r["restarts"]),
            "-" if r["lag"] is None else str(r["lag"]),
            r["consumer_group"] or "-",
        ]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
