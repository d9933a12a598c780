"""`linkflow verify`: were executions lost or doubled? (see `linkflow.verify`)."""

from __future__ import annotations

import argparse
from typing import Any

from linkflow import settings


def register(subparsers: Any) -> None:
    verify = subparsers.add_parser(
        "verify",
        help="check history for lost or duplicated executions and events",
        description="Read linkflow.commands, linkflow.history and linkflow.dlq (committed "
        "records, from the beginning) and report accepted starts, terminal executions, lost "
        "executions, duplicated events, gaps in event ids, executions with more than one "
        "terminal event, activity results applied twice, and dead letters by reason. Run it "
        "once the load has drained: a running execution counts as lost. Exit status 1 when "
        "anything is wrong.",
    )
    verify.add_argument(
        "--bootstrap-servers",
        help="Kafka bootstrap servers (default: LINKFLOW_KAFKA_BOOTSTRAP or the local stack)",
    )
    verify.add_argument(
        "--topic-prefix", default="", help="prefix of every topic name, as given to `topics apply`"
    )
    verify.add_argument(
        "--database-url",
        help="also compare the visibility rows in this PostgreSQL with history "
        "(default: not compared)",
    )
    verify.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from linkflow.verify import check

    report = check(
        str(args.bootstrap_servers or settings.kafka_bootstrap()),
        topic_prefix=args.topic_prefix,
        database_url=args.database_url,
    )
    print(report.table())
    return 0 if report.ok else 1
