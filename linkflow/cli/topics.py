"""`linkflow topics apply | list`: make Kafka match the declarative specs in `topics/`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from linkflow import settings
from linkflow.topics import (
    DEFAULT_TIMEOUT,
    Overrides,
    PlanRefused,
    SpecError,
    TopicsApplyError,
    desired_specs,
    list_topics,
    plan_and_apply,
)
from linkflow.topics.plan import Plan, count_changes

_APPLY_EPILOG = """\
plan lines:  + create   ~ partitions / alter   ! refuse (unsafe; nothing is applied)
exit codes:  0 applied or nothing to do, 1 refused or Kafka failed, 2 invalid specs or setup
"""


def register(subparsers: Any) -> None:
    topics = subparsers.add_parser(
        "topics", help="create and update the Kafka topics declared in topics/"
    )
    actions = topics.add_subparsers(dest="topics_command", metavar="ACTION")
    topics.set_defaults(func=lambda _args: _usage(topics))

    apply = actions.add_parser(
        "apply",
        help="create missing topics, raise partitions, update configs",
        description="Plan the changes that make Kafka match the topic specs, print the plan, "
        "and apply it unless it holds an unsafe change (then nothing is applied).",
        epilog=_APPLY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(apply)
    apply.add_argument(
        "--dry-run", action="store_true", help="print the plan without changing anything"
    )
    apply.add_argument(
        "--allow-repartition",
        action="store_true",
        help="allow more partitions on co-partitioned or compacted topics; existing keys "
        "move to other partitions, so drain them first",
    )
    apply.set_defaults(func=_apply)

    listing = actions.add_parser(
        "list", help="declared topics and their state on the cluster, then other linkflow.* topics"
    )
    _add_common(listing)
    listing.add_argument(
        "--all", action="store_true", dest="show_all", help="show every topic on the cluster"
    )
    listing.set_defaults(func=_list)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help=f"Kafka to talk to (default: ${settings.ENV_BOOTSTRAP} or the `linkflow dev up` "
        "broker)",
    )
    parser.add_argument(
        "--specs", metavar="DIR", type=Path, help="topic spec directory (default: topics/)"
    )
    parser.add_argument(
        "--profile",
        help="replication profile from profiles.yaml, e.g. production "
        "(default: $LINKFLOW_TOPIC_PROFILE or the file's default, dev)",
    )
    parser.add_argument(
        "--replication-factor",
        type=_positive_int,
        metavar="N",
        help="replication factor for every topic (beats the profile)",
    )
    parser.add_argument(
        "--min-insync-replicas",
        type=_positive_int,
        metavar="N",
        help="min.insync.replicas for every topic (beats the profile)",
    )
    parser.add_argument(
        "--partitions",
        type=_positive_int,
        metavar="N",
        help="partition count of the keyed topics: commands, results, history and every task "
        "queue (default: $LINKFLOW_TOPIC_PARTITIONS or the spec files' 12); the most "
        "instances of a processor or of one queue's workers",
    )
    parser.add_argument(
        "--task-queue",
        action="append",
        default=[],
        metavar="NAME",
        dest="task_queues",
        help="also declare linkflow.tasks.NAME (repeatable)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"time budget for all Kafka calls (default {DEFAULT_TIMEOUT:g})",
    )


def _overrides(args: argparse.Namespace) -> Overrides:
    return Overrides(
        profile=args.profile,
        replication_factor=args.replication_factor,
        min_insync_replicas=args.min_insync_replicas,
        partitions=args.partitions,
        task_queues=tuple(args.task_queues),
    )


def _fail(message: str, code: int) -> int:
    print(f"linkflow topics: {message}", file=sys.stderr)
    return code


def _apply(args: argparse.Namespace) -> int:
    try:
        desired = desired_specs(args.specs, _overrides(args))
        bootstrap = args.bootstrap_servers or settings.kafka_bootstrap()
        plan = plan_and_apply(
            bootstrap,
            desired,
            dry_run=args.dry_run,
            allow_repartition=args.allow_repartition,
            timeout=args.timeout,
        )
    except SpecError as exc:
        return _fail("invalid topic specs:\n  " + "\n  ".join(exc.problems), 2)
    except settings.NotConfigured as exc:
        return _fail(str(exc), 2)
    except PlanRefused as exc:
        print(exc.plan.render())
        return _fail(_refused_summary(exc.plan), 1)
    except TopicsApplyError as exc:
        return _fail(str(exc), 1)

    print(plan.render())
    if plan.refused:  # only reachable with --dry-run
        return _fail(_refused_summary(plan), 1)
    if not plan.empty:
        changes = count_changes(plan.actions)
        done = "dry run, nothing changed" if args.dry_run else f"applied to {bootstrap}"
        print(f"{changes} change(s): {done}")
    return 0


def _refused_summary(plan: Plan) -> str:
    count = len(plan.refusals)
    return (
        f"refusing to apply: {count} unsafe change(s) (the '!' lines above say why); "
        "nothing was changed"
    )


def _list(args: argparse.Namespace) -> int:
    try:
        rows = list_topics(
            args.bootstrap_servers or settings.kafka_bootstrap(),
            specs_dir=args.specs,
            overrides=_overrides(args),
            show_all=args.show_all,
            timeout=args.timeout,
        )
    except SpecError as exc:
        return _fail("invalid topic specs:\n  " + "\n  ".join(exc.problems), 2)
    except settings.NotConfigured as exc:
        return _fail(str(exc), 2)
    except TopicsApplyError as exc:
        return _fail(str(exc), 1)

    table = [("TOPIC", "PARTITIONS", "RF", "STATUS")] + [
        (
            row.name,
            "-" if row.partitions is None else str(row.partitions),
            "-" if row.replication_factor is None else str(row.replication_factor),
            row.status,
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    return 0
