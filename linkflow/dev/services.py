"""The LinkFlow processes of the local runtime: history and timers processors, workers, the
visibility sink and the query API, each a background process with a pid file and a log
under the state directory (`run/`, `logs/`).

`start` leaves a process that is already running alone and replaces a stale pid file;
`stop` ends what `start` started (SIGTERM, then SIGKILL), and `linkflow dev down` calls it
before it stops the broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from linkflow import settings
from linkflow.dev.procs import alive_as, read_pid, terminate

API_PORT = 8080


@dataclass(frozen=True)
class Service:
    name: str
    args: tuple[str, ...]  # after `python -m linkflow.cli.main`

    @property
    def marker(self) -> str:
        """What the process's command line holds (a stale pid may belong to another)."""
        return f"linkflow.cli.main {' '.join(self.args[:3])}"


def api_port(port: int | None = None) -> int:
    """The query API's port: `port`, else LINKFLOW_API_PORT, else 8080."""
    return port if port is not None else int(os.environ.get("LINKFLOW_API_PORT", API_PORT))


RUNTIME_SESSION_TIMEOUT = 15  # seconds, for the processors `linkflow up` runs

# Worker processes per task queue when nothing else is asked for.
DEFAULT_WORKERS: dict[str, int] = {"default": 1, "http": 1}


def runtime_services(
    port: int | None = None, workers: dict[str, int] | None = None
) -> list[Service]:
    """The runtime's processes; `workers` maps a task queue to its number of worker
    processes (DEFAULT_WORKERS; a queue given 0 has none)."""
    port = api_port(port)
    per_queue = {**DEFAULT_WORKERS, **(workers or {})}
    worker_services = [
        Service(f"worker-{queue}" + (f"-{n}" if n > 1 else ""), ("worker", "--queue", queue))
        for queue, count in per_queue.items()
        for n in range(1, count + 1)
    ]
    # The supervisor starts a crashed processor again within seconds, but its partitions
    # stay with the dead member until the session times out: 15 s rather than the
    # processors' 60 s default, for a single machine where nothing stalls that long.
    session = ("--session-timeout", str(RUNTIME_SESSION_TIMEOUT))
    return [
        Service("engine", ("engine", "run", "--loglevel", "WARNING", *session)),
        Service("timers", ("timers", "run", "--loglevel", "WARNING", *session)),
        *worker_services,
        Service("sink", ("sink", "run")),
        Service("api", ("api", "serve", "--port", str(port))),
    ]


def _paths(state: Path, service: Service) -> tuple[Path, Path]:
    return state / "run" / f"{service.name}.pid", state / "logs" / f"{service.name}.log"


def running(service: Service, state: Path | None = None) -> int | None:
    pid_file, _ = _paths(state or settings.state_dir(), service)
    pid = read_pid(pid_file)
    return pid if alive_as(pid, service.marker) else None


def start(services: list[Service], state: Path | None = None) -> list[str]:
    """Start each service that is not running; the names of those started."""
    state = state or settings.state_dir()
    started = []
    for service in services:
        if running(service, state) is not None:
            continue
        pid_file, log = _paths(state, service)
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "linkflow.cli.main", *service.args],
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # outlives the command that started it
            )
        pid_file.write_text(f"{proc.pid}\n")
        started.append(service.name)
    return started


def stop(services: list[Service] | None = None, state: Path | None = None) -> list[str]:
    """Stop the services that run; the names of those stopped."""
    state = state or settings.state_dir()
    stopped = []
    for service in services or runtime_services():
        pid_file, _ = _paths(state, service)
        pid = running(service, state)
        if pid is not None:
            terminate(pid, service.marker)
            stopped.append(service.name)
        pid_file.unlink(missing_ok=True)
    return stopped


def log_path(service: Service, state: Path | None = None) -> Path:
    return _paths(state or settings.state_dir(), service)[1]
