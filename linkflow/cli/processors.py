"""`linkflow engine run` (the history processor) and `linkflow timers run`.

Each processor gets a command group with a `run` action built from `_add_common`, so the
options every processor shares (app id, state directory, topic prefix, metrics, log level)
read the same everywhere. Processor modules are imported only when run: they pull in Kafka
clients and Faust, which the rest of the CLI does not need.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from linkflow.settings import NotConfigured


def register(subparsers: Any) -> None:
    _register_history(subparsers)
    _register_timers(subparsers)


def _register_history(subparsers: Any) -> None:
    from processors.history_defaults import DEFAULT_BATCH_WITHIN, DEFAULT_MAX_BATCH

    group = subparsers.add_parser(
        "engine", help="the history processor, which runs the workflow engine"
    )
    actions = group.add_subparsers(dest="engine_command", metavar="ACTION")
    group.set_defaults(func=lambda _args: _usage(group))
    run = actions.add_parser(
        "run",
        help="run the history processor until SIGTERM/SIGINT",
        description="Consume linkflow.commands and linkflow.results, keep execution state "
        "in RocksDB, write history events and activity tasks, one Kafka transaction "
        "per batch.",
    )
    _add_common(run, default_app_id="linkflow-history")
    run.add_argument(
        "--max-batch",
        type=_positive_int,
        default=DEFAULT_MAX_BATCH,
        help="inputs decided per batch at most (default %(default)s)",
    )
    run.add_argument(
        "--batch-within",
        type=_non_negative_float,
        default=DEFAULT_BATCH_WITHIN,
        help="shortest time between the starts of two batches (one transaction each): "
        "under load a batch gathers the inputs of this interval; after a quiet spell an "
        "input goes at once (default %(default)s)",
    )
    run.set_defaults(func=_run_history, long_running=True)


def _run_history(args: argparse.Namespace) -> int:
    from processors.history import HistoryConfig, run

    config = HistoryConfig(
        **_common_config(args),
        max_batch=args.max_batch,
        batch_within=args.batch_within,
    )
    return _run_guarded(run, config)


def _register_timers(subparsers: Any) -> None:
    from processors.timers_firing import (  # light: no Kafka client import
        DEFAULT_MAX_BATCH,
        DEFAULT_RESEND_INTERVAL,
        DEFAULT_TICK,
    )

    group = subparsers.add_parser("timers", help="the timers processor (durable timers)")
    actions = group.add_subparsers(dest="timers_command", metavar="ACTION")
    group.set_defaults(func=lambda _args: _usage(group))
    run = actions.add_parser(
        "run",
        help="run the timers processor until SIGTERM/SIGINT",
        description="Consume linkflow.history, keep pending timers in RocksDB and send "
        "TimerFired to linkflow.results when they are due.",
    )
    _add_common(run, default_app_id="linkflow-timers")
    run.add_argument(
        "--tick",
        type=_positive_float,
        default=DEFAULT_TICK,
        help="longest sleep between passes over the timers, seconds (default %(default)s)",
    )
    run.add_argument(
        "--resend-interval",
        type=_positive_float,
        default=DEFAULT_RESEND_INTERVAL,
        help="resend a fired timer history has not confirmed after this many seconds "
        "(default %(default)s)",
    )
    run.add_argument(
        "--max-batch",
        type=_positive_int,
        default=DEFAULT_MAX_BATCH,
        help="timers sent per pass before the stream gets a turn (default %(default)s)",
    )
    run.set_defaults(func=_run_timers, long_running=True)


def _add_common(parser: argparse.ArgumentParser, *, default_app_id: str) -> None:
    from processors.history_defaults import DEFAULT_TRANSACTION_TIMEOUT

    parser.add_argument(
        "--app-id",
        default=default_app_id,
        help="processor id: the consumer group, and the prefix of its changelog topics "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--bootstrap",
        help="Kafka bootstrap servers (default: LINKFLOW_KAFKA_BOOTSTRAP or the local stack)",
    )
    parser.add_argument(
        "--datadir",
        type=Path,
        help="state directory for the RocksDB tables (default .linkflow/processors/APP_ID)",
    )
    parser.add_argument(
        "--topic-prefix",
        default="",
        help="prefix of every linkflow.* topic name, as given to `topics apply --prefix`",
    )
    parser.add_argument(
        "--session-timeout",
        type=_positive_float,
        default=60.0,
        help="seconds before the group gives a silent instance's partitions to others; "
        "lower means faster takeover after a crash, higher tolerates longer stalls "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--transaction-timeout",
        type=_positive_float,
        default=DEFAULT_TRANSACTION_TIMEOUT,
        help="seconds before the broker aborts the open transaction of an instance that "
        "died; readers of the partitions it wrote wait that long, unless it is restarted on "
        "its own --datadir (default %(default)s)",
    )
    parser.add_argument(
        "--metrics-port", type=_positive_int, help="serve Prometheus metrics on this port"
    )
    parser.add_argument(
        "--loglevel",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default %(default)s)",
    )


def _run_timers(args: argparse.Namespace) -> int:
    from processors.timers import TimersConfig, run

    config = TimersConfig(
        **_common_config(args),
        tick=args.tick,
        resend_interval=args.resend_interval,
        max_batch=args.max_batch,
    )
    return _run_guarded(run, config)


def _common_config(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields every processor takes from the `_add_common` options."""
    return {
        "app_id": args.app_id,
        "bootstrap": args.bootstrap,
        "datadir": args.datadir,
        "topic_prefix": args.topic_prefix,
        "session_timeout": args.session_timeout,
        "transaction_timeout": args.transaction_timeout,
        "metrics_port": args.metrics_port,
        "loglevel": args.loglevel,
    }


def _run_guarded(run: Any, config: Any) -> int:
    from processors.topics import TopicMissing, TopicTooSmall

    try:
        return int(run(config))
    except (NotConfigured, TopicMissing, TopicTooSmall) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _parse(text: str, kind: type[int] | type[float], what: str) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = int(_parse(text, int, "a positive integer"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = _parse(text, float, "a non-negative number")
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = _parse(text, float, "a positive number")
    if not value > 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value
