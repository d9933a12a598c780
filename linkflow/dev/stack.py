"""`linkflow dev up | down | status`: the local broker and database as one stack."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from linkflow import settings, transport
from linkflow.dev import background
from linkflow.dev.kafka import KAFKA_VERSION, KafkaBroker
from linkflow.dev.postgres import PostgresServer
from linkflow.dev.procs import StackError
from linkflow.dev.services import stop as stop_runtime

DEFAULT_KAFKA_PORT = 19092
DEFAULT_POSTGRES_PORT = 15432

__all__ = ["StackError", "StackStatus", "down", "status", "up"]


@dataclass
class StackStatus:
    external: bool
    kafka_bootstrap_servers: str
    kafka_running: bool
    kafka_version: str
    database_url: str
    postgres_running: bool
    postgres_version: str
    state_dir: str
    started: list[str]

    @property
    def ok(self) -> bool:
        return self.kafka_running and self.postgres_running

    def to_json(self) -> dict[str, Any]:
        return {
            "external": self.external,
            "bootstrap_servers": self.kafka_bootstrap_servers,
            "database_url": self.database_url,
            "kafka": {
                "bootstrap_servers": self.kafka_bootstrap_servers,
                "running": self.kafka_running,
                "version": self.kafka_version,
            },
            "postgres": {
                "url": self.database_url,
                "running": self.postgres_running,
                "version": self.postgres_version,
            },
            "state_dir": self.state_dir,
        }


@dataclass
class _Ports:
    kafka: int
    controller: int
    postgres: int


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise StackError(f"{name} must be a port number, not {value!r}") from exc


def _ports(state: Path, kafka_port: int | None, postgres_port: int | None) -> _Ports:
    # A running stack keeps the ports it was started with unless told otherwise.
    recorded = settings.stack_info().get("ports", {}) if state == settings.state_dir() else {}
    kafka = (
        kafka_port or _int_env("LINKFLOW_KAFKA_PORT") or recorded.get("kafka") or DEFAULT_KAFKA_PORT
    )
    controller = (
        _int_env("LINKFLOW_KAFKA_CONTROLLER_PORT")
        or (recorded.get("controller") if kafka == recorded.get("kafka") else None)
        or kafka + 1
    )
    postgres = (
        postgres_port
        or _int_env("LINKFLOW_POSTGRES_PORT")
        or recorded.get("postgres")
        or DEFAULT_POSTGRES_PORT
    )
    return _Ports(int(kafka), int(controller), int(postgres))


def _cache(state: Path) -> Path:
    return Path(os.environ.get("LINKFLOW_CACHE") or state / "cache")


@contextlib.contextmanager
def _locked(state: Path) -> Iterator[None]:
    """Serialise up/down so two callers (a test session and a demo) never double-start."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "dev.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _services(state: Path, ports: _Ports) -> tuple[KafkaBroker, PostgresServer]:
    return (
        KafkaBroker(state, _cache(state), ports.kafka, ports.controller),
        PostgresServer(state, ports.postgres),
    )


def _write_info(state: Path, ports: _Ports, kafka: KafkaBroker, pg: PostgresServer) -> None:
    info = {
        "kafka": {"bootstrap_servers": kafka.bootstrap_servers, "version": KAFKA_VERSION},
        "postgres": {"url": pg.url, "version": pg.version()},
        "ports": asdict(ports),
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = state / (settings.STACK_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.replace(state / settings.STACK_FILE)


def _external_status(state: Path) -> StackStatus:
    import psycopg
    from confluent_kafka.admin import AdminClient

    bootstrap, url = settings.kafka_bootstrap(), settings.database_url()
    try:
        AdminClient(transport.client_config(bootstrap)).list_topics(timeout=5)
        kafka_ok = True
    except Exception:
        kafka_ok = False
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            pg_version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        pg_ok = True
    except psycopg.Error:
        pg_ok, pg_version = False, "unknown"
    return StackStatus(
        True, bootstrap, kafka_ok, "external", url, pg_ok, pg_version, str(state), []
    )


def up(
    state: Path | None = None, kafka_port: int | None = None, postgres_port: int | None = None
) -> StackStatus:
    """Bring the stack up; services already running and healthy are left alone."""
    state = state or settings.state_dir()
    if settings.external_services():
        status_ = _external_status(state)
        if not status_.ok:
            raise StackError(
                f"external services unreachable: Kafka at "
                f"{status_.kafka_bootstrap_servers} "
                f"{'ok' if status_.kafka_running else 'DOWN'}, PostgreSQL "
                f"{'ok' if status_.postgres_running else 'DOWN'}"
            )
        return status_
    with _locked(state):
        ports = _ports(state, kafka_port, postgres_port)
        kafka, pg = _services(state, ports)
        started = []
        if kafka.start():
            started.append("kafka")
        if pg.start():
            started.append("postgres")
        _write_info(state, ports, kafka, pg)
        return StackStatus(
            False,
            kafka.bootstrap_servers,
            True,
            KAFKA_VERSION,
            pg.url,
            True,
            pg.version(),
            str(state),
            started,
        )


def down(state: Path | None = None) -> list[str]:
    """Stop what `up` started; returns the names of the services that were stopped."""
    state = state or settings.state_dir()
    # First the runtime, which uses both services; its supervisor first of all, or it
    # would start again what is stopped under it.
    stopped = ["runtime"] if background.stop(state) else []
    stopped += stop_runtime(state=state)
    if settings.external_services():
        return stopped
    with _locked(state):
        kafka, pg = _services(state, _ports(state, None, None))
        if pg.stop():
            stopped.append("postgres")
        if kafka.stop():
            stopped.append("kafka")
        return stopped


def status(state: Path | None = None) -> StackStatus:
    state = state or settings.state_dir()
    if settings.external_services():
        return _external_status(state)
    ports = _ports(state, None, None)
    kafka, pg = _services(state, ports)
    return StackStatus(
        False,
        kafka.bootstrap_servers,
        kafka.running() and kafka.healthy(),
        KAFKA_VERSION,
        pg.url,
        pg.running(),
        pg.version(),
        str(state),
        [],
    )
