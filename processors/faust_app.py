"""The Faust app every LinkFlow processor is built on, and the pieces they share.

    app = make_app("linkflow-timers")                 # broker, RocksDB, commit cadence
    source = describe_topic(bootstrap, HISTORY)       # partitions and replication on Kafka
    table = make_table(app, "timers", partitions=source.partitions)
    ensure_changelogs(app, bootstrap, source)         # before the worker starts
    sys.exit(run_worker(app))                         # SIGTERM/SIGINT stop it cleanly

Pitfalls this module exists to avoid (faust-streaming 0.15):

- `topic_allow_declare=False` is app-wide: Faust then creates no topic at all, not even a
  table's changelog. LinkFlow topics come from `topics/` specs, so we keep it off and create
  the changelogs ourselves (`ensure_changelogs`) with the source topic's partition count and
  replication; Faust's own declare would use `topic_partitions` (8) and replication 1.
- The leader-election topic is disabled: no LinkFlow processor uses `on_leader`.
- With rocksdict installed the store needs `options={"driver": "rocksdict"}`; passing
  `use_rocksdict` raises a TypeError. The store pops keys from that dict in place, so each
  table gets a fresh one.
- A table can only be written inside stream iteration (the current event names the
  changelog partition); timers and background tasks may read, never write.
- Faust lets environment variables override settings passed in code, under generic names
  (BROKER_URL, TIMEZONE, STORE_CHECK_EXISTS, ...). `make_app` sets the prefix
  LINKFLOW_FAUST_, so only e.g. LINKFLOW_FAUST_PRODUCER_LINGER=0.01 changes a processor.
- Standby replicas: see DEFAULT_STANDBY_REPLICAS.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT

from linkflow import settings
from linkflow.dlq import dead_letter_headers
from linkflow.metrics import DEAD_LETTERS
from linkflow.topics.model import ObservedTopic
from processors.topics import METADATA_TIMEOUT, ensure_changelog_topics

log = logging.getLogger(__name__)

# Offsets are committed (and the producer flushed) this often: it bounds how much a crash
# makes us redo, and Faust flushes produced records before every commit.
DEFAULT_COMMIT_INTERVAL = 0.1
# Every table write is one changelog record sent on its own by Faust; with no linger each
# becomes a produce request of its own and the socket writes dominate (measured: ~2k table
# writes/s without, ~3-4k/s with 5 ms on the 2-core dev machine). 5 ms is also all it adds
# to a fired timer's latency.
DEFAULT_PRODUCER_LINGER = 0.005
# Standby replicas are off by default: with faust-streaming 0.15.3 and one standby, a second
# instance joining the group intermittently never processes the active partitions it is
# given (offsets stay uncommitted, its timers never fire), while with none the same
# two-instance test passed every time. Without standbys a takeover restores the table
# partitions from their changelogs first; that is slower, not wrong.
DEFAULT_STANDBY_REPLICAS = 0
FAUST_ENV_PREFIX = "LINKFLOW_FAUST_"


def broker_url(bootstrap: str) -> str:
    """Faust's broker setting for a `host:port[,host:port]` bootstrap list."""
    hosts = [h.strip() for h in bootstrap.split(",") if h.strip()]
    if not hosts:
        raise ValueError(f"empty Kafka bootstrap list {bootstrap!r}")
    return ",".join(h if "://" in h else f"kafka://{h}" for h in hosts)


def default_datadir(app_id: str) -> Path:
    return settings.state_dir() / "processors" / app_id


def make_app(
    app_id: str,
    *,
    bootstrap: str | None = None,
    datadir: Path | str | None = None,
    standby_replicas: int = DEFAULT_STANDBY_REPLICAS,
    web_port: int | None = None,
    **overrides: Any,
) -> faust.App:
    """A Faust app with LinkFlow's settings; `overrides` are Faust settings and win.

    `app_id` is also the consumer group. `web_port` turns on Faust's web server (off by
    default: processors expose nothing but Prometheus metrics).
    """
    datadir = Path(datadir) if datadir else default_datadir(app_id)
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    conf: dict[str, Any] = {
        "env_prefix": FAUST_ENV_PREFIX,
        "broker": broker_url(bootstrap or settings.kafka_bootstrap()),
        "store": "rocksdb://",
        "datadir": str(datadir),
        "autodiscover": False,
        "web_enabled": web_port is not None,
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": DEFAULT_COMMIT_INTERVAL,
        "producer_linger": DEFAULT_PRODUCER_LINGER,
        "table_standby_replicas": standby_replicas,
        "processing_guarantee": "at_least_once",
        # Keys and values are bytes we encode ourselves (Avro, or keys we build).
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    if web_port is not None:
        conf["web_port"] = web_port
    conf.update(overrides)
    return faust.App(app_id, **conf)


def make_table(
    app: faust.App, name: str, *, partitions: int, help: str = "", **kwargs: Any
) -> faust.Table:
    """A bytes-to-bytes RocksDB table (rocksdict) whose changelog has `partitions`.

    Tables take their serializers from the app ("raw" in `make_app`).

    `partitions` must equal the source topic's: the changelog partition of a write is the
    partition of the event being processed.
    """
    return app.Table(
        name,
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        help=help,
        options={"driver": "rocksdict"},  # a fresh dict: the store pops keys out of it
        **kwargs,
    )


def ensure_changelogs(
    app: faust.App, bootstrap: str, source: ObservedTopic, timeout: float = METADATA_TIMEOUT
) -> None:
    """Create the changelog topic of every table of `app`, shaped like `source` (blocking);
    see `processors.topics.ensure_changelog_topics`."""
    changelogs = {}
    for table in app.tables.values():
        if table.partitions != source.partitions:
            raise ValueError(
                f"table {table.name} has {table.partitions} partitions, "
                f"its source {source.name} has {source.partitions}"
            )
        changelogs[table.changelog_topic.get_topic_name()] = (
            f"changelog of table {table.name} in app {app.conf.id}"
        )
    ensure_changelog_topics(bootstrap, source, changelogs, timeout)


async def dead_letter(
    app: faust.App,
    dlq_topic: faust.TopicT,
    event: EventT,
    reason: str,
    detail: str,
    *,
    error_type: str = "DecodeError",
) -> None:
    """Send `event`'s original key, value and headers to the dead-letter topic, saying why
    (the `linkflow.dlq.*` headers of `linkflow.dlq`).

    Awaited inside stream iteration; Faust flushes the producer before it commits the
    source offset, so a dead letter is never lost to a crash (it may be sent twice).
    """
    message = event.message
    original = message.headers or []
    if isinstance(original, Mapping):
        original = list(original.items())
    headers = list(original) + dead_letter_headers(
        reason,
        message.topic,
        message.partition,
        message.offset,
        error_type,
        detail=detail,
    )
    await dlq_topic.send(
        key=message.key,
        value=message.value,
        headers=headers,
        force=True,  # now, not attached to the event's ack
    )
    DEAD_LETTERS.labels(str(app.conf.id), reason).inc()


def run_worker(app: faust.App, *, loglevel: str = "INFO", quiet: bool = True) -> int:
    """Run `app` until SIGTERM or SIGINT (both stop it gracefully); the exit code."""
    worker = faust.Worker(app, loglevel=loglevel, quiet=quiet, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
