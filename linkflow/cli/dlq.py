"""`linkflow dlq list | requeue`: what went to the dead letter topic, why, and sending it
back to where it came from."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from linkflow import settings, transport


def register(subparsers: Any) -> None:
    dlq = subparsers.add_parser(
        "dlq",
        help="inspect and requeue dead letters",
        description="Records LinkFlow could not process (undecodable, invalid, for an "
        "execution that does not exist, or one the engine failed on) go to linkflow.dlq with "
        "the reason and their source topic, partition and offset.",
    )
    actions = dlq.add_subparsers(dest="action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--bootstrap-servers",
        help="Kafka bootstrap servers (default: LINKFLOW_KAFKA_BOOTSTRAP or the local stack)",
    )
    common.add_argument(
        "--topic-prefix", default="", help="prefix of every topic name, as given to `topics apply`"
    )
    listing = actions.add_parser("list", parents=[common], help="list dead letters, oldest first")
    listing.add_argument("--reason", help="only those with this reason")
    listing.add_argument("--limit", type=int, default=100, help="at most (default: %(default)s)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_list)
    again = actions.add_parser(
        "requeue",
        parents=[common],
        help="send dead letters back to their source topic",
        description="Produce the original record of each named dead letter (REF is "
        "PARTITION:OFFSET as `dlq list` shows it) to its source topic, with its original "
        "key and headers. Requeue once the cause is fixed; the dead letter stays.",
    )
    again.add_argument("refs", nargs="+", metavar="REF")
    again.set_defaults(func=_requeue)


def _bootstrap(args: argparse.Namespace) -> str:
    return str(args.bootstrap_servers or settings.kafka_bootstrap())


def _topic(args: argparse.Namespace) -> str:
    return f"{args.topic_prefix}{transport.DLQ}"


def _list(args: argparse.Namespace) -> int:
    from linkflow.dlq_reader import read_dead_letters

    try:
        letters = read_dead_letters(_bootstrap(args), _topic(args))
    except (LookupError, TimeoutError, RuntimeError) as exc:
        print(f"linkflow dlq list: {exc}", file=sys.stderr)
        return 1
    if args.reason:
        letters = [d for d in letters if d.info.reason == args.reason]
    shown = letters[-args.limit :] if args.limit > 0 else letters
    if args.json:
        for letter in shown:
            print(json.dumps(letter.to_json()))
        return 0
    if not shown:
        print(f"no dead letters in {_topic(args)}")
        return 0
    print(f"{'REF':<10} {'FAILED AT (UTC)':<23} {'REASON':<18} {'SOURCE':<40} DETAIL")
    for letter in shown:
        info = letter.info
        when = (
            datetime.fromtimestamp(info.failed_at_ms / 1000, tz=UTC).strftime(
                "%Y-%m-%d %H:%M:%S.%f"
            )[:23]
            if info.failed_at_ms
            else "-"
        )
        source = f"{info.topic}[{info.partition}]@{info.offset}"
        detail = (info.detail or info.error_type or "").replace("\n", " ")
        print(f"{letter.ref:<10} {when:<23} {info.reason:<18} {source:<40} {detail[:80]}")
    if len(letters) > len(shown):
        print(f"({len(letters) - len(shown)} older not shown; --limit 0 shows all)")
    return 0


def _requeue(args: argparse.Namespace) -> int:
    from linkflow.dlq_reader import read_dead_letters, requeue

    wanted = set(args.refs)
    try:
        letters = [d for d in read_dead_letters(_bootstrap(args), _topic(args)) if d.ref in wanted]
        missing = wanted - {d.ref for d in letters}
        if missing:
            names = ", ".join(sorted(missing))
            print(f"linkflow dlq requeue: no dead letter {names}", file=sys.stderr)
            return 1
        sent = requeue(_bootstrap(args), letters)
    except (LookupError, TimeoutError, RuntimeError, ValueError) as exc:
        print(f"linkflow dlq requeue: {exc}", file=sys.stderr)
        return 1
    for letter in letters:
        print(f"requeued {letter.ref} to {letter.info.topic}")
    print(f"{sent} record(s) requeued")
    return 0
