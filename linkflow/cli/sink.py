"""`linkflow sink run`: project the history topic into PostgreSQL (the visibility sink)."""

from __future__ import annotations

import argparse
import logging
import signal
from types import FrameType
from typing import Any

from linkflow import settings, transport


def register(subparsers: Any) -> None:
    sink = subparsers.add_parser("sink", help="the visibility sink: history topic -> PostgreSQL")
    actions = sink.add_subparsers(dest="sink_command", metavar="ACTION")
    sink.set_defaults(func=lambda _args: _usage(sink))

    run = actions.add_parser(
        "run",
        help="consume history and project it into PostgreSQL until SIGTERM/SIGINT",
        description="Apply pending migrations, then consume the history topic in batches and "
        "write events, executions and node executions to PostgreSQL together with the "
        "consumed offsets. Stops after the current batch on SIGTERM or SIGINT.",
    )
    from connect.sink import DEFAULT_BATCH_WITHIN, DEFAULT_GROUP, DEFAULT_SESSION_TIMEOUT

    run.add_argument("--group", default=DEFAULT_GROUP, help=f"consumer group ({DEFAULT_GROUP})")
    run.add_argument(
        "--topic", default=transport.HISTORY, help=f"history topic ({transport.HISTORY})"
    )
    run.add_argument(
        "--dlq-topic", default=transport.DLQ, help=f"dead-letter topic ({transport.DLQ})"
    )
    run.add_argument("--batch-size", type=int, default=5000, help="records per batch (5000)")
    run.add_argument(
        "--batch-within",
        type=float,
        default=DEFAULT_BATCH_WITHIN,
        help="shortest time between the starts of two batches, seconds: under load a batch "
        f"gathers this long, after a quiet spell it goes at once ({DEFAULT_BATCH_WITHIN})",
    )
    run.add_argument(
        "--session-timeout",
        type=float,
        default=DEFAULT_SESSION_TIMEOUT,
        help="seconds before the group gives a silent sink's partitions to another; after a "
        f"crash the rows wait this long for a new owner ({DEFAULT_SESSION_TIMEOUT:g})",
    )
    run.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus /metrics on this port"
    )
    run.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers")
    run.add_argument("--database-url", default=None, help="PostgreSQL URL")
    run.add_argument("--log-level", default="INFO", help="logging level (INFO)")
    run.set_defaults(func=_run, long_running=True)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _run(args: argparse.Namespace) -> int:
    from connect.sink import Sink, SinkConfig
    from linkflow import metrics

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = SinkConfig(
        bootstrap=args.bootstrap or settings.kafka_bootstrap(),
        database_url=args.database_url or settings.database_url(),
        topic=args.topic,
        group=args.group,
        dlq_topic=args.dlq_topic,
        batch_size=args.batch_size,
        batch_within=args.batch_within,
        consumer_overrides=(
            ("session.timeout.ms", round(args.session_timeout * 1000)),
            ("heartbeat.interval.ms", max(100, round(args.session_timeout * 1000 / 4))),
        ),
    )
    if args.metrics_port is not None:
        port = metrics.serve(args.metrics_port)
        logging.getLogger(__name__).info("metrics on :%d/metrics", port)
    sink = Sink(config)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        sink.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sink.run()
    return 0
