"""`linkflow worker --queue Q --concurrency N`: run the activity tasks of one task queue."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from linkflow import settings
from linkflow.transport import DEFAULT_QUEUE, STARTED_REPORT_DELAY

_EPILOG = """\
SIGTERM or Ctrl-C drains: no new tasks are fetched, running ones finish (up to
--drain-timeout), completed work is committed, then the worker exits. A second signal
stops at once; unfinished tasks are re-run by another worker.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run activity tasks from a task queue",
        description="Join the consumer group of a task queue, run its activity tasks with the "
        "registered node handlers and report results to linkflow.results.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--queue", default=DEFAULT_QUEUE, help="task queue (default: %(default)s)")
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=10,
        help="activities run at once (default: %(default)s)",
    )
    parser.add_argument(
        "--bootstrap-servers",
        help="Kafka bootstrap servers (default: LINKFLOW_KAFKA_BOOTSTRAP or the local stack)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_positive_float,
        default=None,
        metavar="PER_SECOND",
        help="start at most this many attempts per second (a burst of one second's worth); "
        "a queue's rate is the sum of its workers' limits (default: no limit)",
    )
    parser.add_argument(
        "--report-started-after",
        type=_non_negative_float,
        default=STARTED_REPORT_DELAY,
        metavar="SECONDS",
        help="report an attempt's start once its handler has run this long, so a quick "
        "attempt sends one result instead of two; at once for activities with a "
        "schedule-to-start or heartbeat timeout; 0: always at once (default: %(default)s)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=_non_negative_float,
        default=30.0,
        metavar="SECONDS",
        help="how long running activities may take to finish on shutdown (default: %(default)s)",
    )
    parser.add_argument(
        "--topic-prefix",
        default="",
        help="prefix of every topic name and of the group id, as given to `topics apply`",
    )
    parser.add_argument("--identity", help="how this worker names itself in results")
    parser.add_argument(
        "--handlers",
        action="append",
        default=[],
        metavar="MODULE",
        help="also import MODULE's @activity handlers (repeatable)",
    )
    parser.add_argument(
        "--no-entry-points",
        action="store_true",
        help="do not load handlers from the linkflow.nodes entry point group",
    )
    parser.add_argument(
        "--consumer-config",
        action="append",
        default=[],
        type=_key_value,
        metavar="KEY=VALUE",
        help="extra librdkafka setting for the task consumer, e.g. security.protocol=SSL "
        "or session.timeout.ms=10000 (repeatable)",
    )
    parser.add_argument(
        "--producer-config",
        action="append",
        default=[],
        type=_key_value,
        metavar="KEY=VALUE",
        help="extra librdkafka setting for the results producer (repeatable)",
    )
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    parser.add_argument("--log-level", default="INFO", help="(default: %(default)s)")
    parser.set_defaults(func=_run, long_running=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Imported here: `linkflow --help` should not pay for the worker and its handlers.
    from linkflow.worker import HandlerLoadError, Worker, WorkerConfig, WorkerError
    from linkflow.worker.registry import build_registry

    try:
        bootstrap = args.bootstrap_servers or settings.kafka_bootstrap()
    except settings.NotConfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        registry = build_registry(
            entry_points=not args.no_entry_points, extra_modules=args.handlers
        )
    except HandlerLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = WorkerConfig(
        queue=args.queue,
        bootstrap_servers=bootstrap,
        concurrency=args.concurrency,
        drain_timeout=args.drain_timeout,
        topic_prefix=args.topic_prefix,
        rate_limit=args.rate_limit,
        started_report_delay=args.report_started_after,
        consumer_overrides=dict(args.consumer_config),
        producer_overrides=dict(args.producer_config),
    )
    if args.identity:
        config.identity = args.identity
    problem = _topics_too_small(bootstrap, [config.results_topic, config.dlq_topic])
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port)
    worker = Worker(config, registry)
    print(
        f"linkflow worker {config.identity}: queue {config.queue!r} "
        f"(topic {config.task_topic}, group {config.group_id}), "
        f"concurrency {config.concurrency}, node types: {', '.join(registry.names())}; "
        f"SIGTERM or Ctrl-C drains (up to {config.drain_timeout:g} s)",
        flush=True,
    )
    try:
        stats = asyncio.run(_serve(worker))
    except WorkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(f"linkflow worker stopped: {worker.stats.summary()}", flush=True)
        return 1
    print(f"linkflow worker stopped: {stats.summary()}", flush=True)
    return 0


def _topics_too_small(bootstrap: str, topics: list[str]) -> str | None:
    """Why one of the topics the worker writes cannot take the largest record LinkFlow
    writes (every such result would be refused by the broker after its activity ran), or
    None. A topic not there yet, or a broker not answering, is not a reason to refuse: the
    worker waits for them as it always has."""
    from processors.topics import TopicTooSmall, check_record_limit, describe_topic

    for name in topics:
        try:
            check_record_limit(describe_topic(bootstrap, name, timeout=5))
        except TopicTooSmall as exc:
            return str(exc)
        except Exception as exc:  # missing topic, broker away: the worker starts anyway
            logging.getLogger(__name__).warning("could not check topic %s: %s", name, exc)
            return None  # a broker away would make every check wait as long
    return None


async def _serve(worker: Any) -> Any:
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(signum: int) -> None:
        nonlocal received
        received += 1
        if received == 1:
            print(
                f"{signal.Signals(signum).name}: draining (a second signal stops at once)",
                file=sys.stderr,
                flush=True,
            )
            worker.request_stop()
        else:
            worker.request_stop(hard=True)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    return await worker.run()
