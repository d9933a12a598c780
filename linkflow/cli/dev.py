"""`linkflow dev up | down | status`."""

from __future__ import annotations

import argparse
import json
import sys
import time

from linkflow.dev import StackError, down, status, up


def _up(args: argparse.Namespace) -> int:
    began = time.monotonic()
    try:
        result = up(kafka_port=args.kafka_port, postgres_port=args.postgres_port)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    took = time.monotonic() - began
    if result.external:
        print(
            "Using external services (LINKFLOW_KAFKA_BOOTSTRAP / LINKFLOW_DATABASE_URL); "
            "nothing started."
        )
    elif result.started:
        print(f"Started {', '.join(result.started)} in {took:.1f} s.")
    else:
        print("Local stack already running; nothing to do.")
    _print_human(result.to_json())
    return 0


def _down(args: argparse.Namespace) -> int:
    try:
        stopped = down()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Stopped {', '.join(stopped)}." if stopped else "Nothing was running.")
    return 0


def _status(args: argparse.Namespace) -> int:
    result = status()
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        _print_human(result.to_json())
    return 0 if result.ok else 3


def _print_human(info: dict[str, object]) -> None:
    kafka = info["kafka"]
    pg = info["postgres"]
    assert isinstance(kafka, dict) and isinstance(pg, dict)
    state = lambda ok: "running" if ok else "stopped"  # noqa: E731
    print(
        f"  Kafka {kafka['version']:<10} {state(kafka['running']):<8} "
        f"bootstrap servers: {kafka['bootstrap_servers']}"
    )
    print(f"  PostgreSQL {pg['version']:<5} {state(pg['running']):<8} database URL: {pg['url']}")
    print(f"  state directory: {info['state_dir']}")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = subparsers.add_parser("dev", help="the local Kafka broker and PostgreSQL server")
    sub = dev.add_subparsers(dest="dev_command", metavar="ACTION", required=True)
    p_up = sub.add_parser("up", help="start the local stack (a no-op when it runs)")
    p_up.add_argument("--kafka-port", type=int, help="broker port (default 19092)")
    p_up.add_argument("--postgres-port", type=int, help="PostgreSQL port (default 15432)")
    p_up.set_defaults(func=_up)
    p_down = sub.add_parser("down", help="stop everything `up` started")
    p_down.set_defaults(func=_down)
    p_status = sub.add_parser("status", help="what runs where")
    p_status.add_argument("--json", action="store_true", help="machine-readable output")
    p_status.set_defaults(func=_status)
