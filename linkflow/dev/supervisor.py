"""`linkflow up`: the runtime in the foreground, supervised.

Starts the runtime services (`linkflow.dev.services.runtime_services`: history and timers
processors, the workers, the sink, the API) as child processes, and starts again any that
exits, after a backoff that doubles from 1 s up to 30 s and resets once a process has stayed
up for a minute. SIGTERM or Ctrl-C stops them all (SIGTERM, then SIGKILL after the grace
period) and ends `linkflow up`. Each service logs to `<state>/logs/<name>.log`, as with
`linkflow demo`; restarts are reported on stdout.

While it runs, `<state>/run/supervisor.json` says what it supervises (its own pid, and per
process: pid, start time, restarts, exit statuses, log), for `linkflow ps` and `linkflow
down`; it is rewritten on every change and removed at the end.

This is what the chaos soak exercises: a killed process comes back by itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from linkflow import settings
from linkflow.dev.services import Service

BACKOFF_MIN = 1.0
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0  # seconds up after which a crash restarts at the shortest backoff
CHECK_EVERY = 0.5
STATUS_FILE = "supervisor.json"  # under <state>/run/


@dataclass
class _Child:
    service: Service
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    started_wall: float = 0.0  # epoch seconds, for `linkflow ps` in another process
    backoff: float = BACKOFF_MIN
    restart_at: float = 0.0
    restarts: int = 0
    exits: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(
        self, services: list[Service], state: Path | None = None, grace: float = 30.0
    ) -> None:
        state = state or settings.state_dir()
        self.children = [_Child(s, state / "logs" / f"{s.name}.log") for s in services]
        self.run_dir = state / "run"
        self.grace = grace
        self.stopping = threading.Event()

    def run(self) -> int:
        """Supervise until `stop()` (or SIGTERM/SIGINT in the main thread); exit status 0."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.stop())
            signal.signal(signal.SIGINT, lambda *_: self.stop())
        for child in self.children:
            self._start(child)
        self._write_status()
        print(f"linkflow up: {', '.join(c.service.name for c in self.children)}", flush=True)
        try:
            while not self.stopping.wait(CHECK_EVERY):
                self._check()
        finally:
            self._stop_all()
        return 0

    def stop(self) -> None:
        self.stopping.set()

    def pid(self, name: str) -> int | None:
        for child in self.children:
            if child.service.name == name and child.proc is not None:
                return child.proc.pid
        return None

    def _start(self, child: _Child) -> None:
        child.log.parent.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(child.log, "ab") as out:
            child.proc = subprocess.Popen(
                [sys.executable, "-m", "linkflow.cli.main", *child.service.args],
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        child.started_at = time.monotonic()
        child.started_wall = time.time()
        # The same pid files as `linkflow demo`, so `linkflow dev down` stops these too.
        (self.run_dir / f"{child.service.name}.pid").write_text(f"{child.proc.pid}\n")

    def _check(self) -> None:
        now = time.monotonic()
        for child in self.children:
            proc = child.proc
            if proc is not None:
                code = proc.poll()
                if code is None:
                    continue
                child.exits.append(code)
                child.proc = None
                if now - child.started_at >= STABLE_AFTER:
                    child.backoff = BACKOFF_MIN
                child.restart_at = now + child.backoff
                print(
                    f"linkflow up: {child.service.name} exited ({_describe(code)}); "
                    f"starting it again in {child.backoff:g} s (log: {child.log})",
                    flush=True,
                )
                child.backoff = min(child.backoff * 2, BACKOFF_MAX)
                self._write_status()
            elif now >= child.restart_at:
                self._start(child)
                child.restarts += 1
                self._write_status()

    def _write_status(self) -> None:
        status = {
            "pid": os.getpid(),
            "processes": [
                {
                    "name": c.service.name,
                    "args": list(c.service.args),
                    "pid": c.proc.pid if c.proc is not None else None,
                    "started_at": c.started_wall if c.proc is not None else None,
                    "restarts": c.restarts,
                    "exits": c.exits[-5:],
                    "log": str(c.log),
                }
                for c in self.children
            ],
        }
        path = self.run_dir / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=1) + "\n")
        tmp.replace(path)

    def _stop_all(self) -> None:
        running = [c.proc for c in self.children if c.proc is not None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for proc in running:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for child in self.children:
            (self.run_dir / f"{child.service.name}.pid").unlink(missing_ok=True)
        (self.run_dir / STATUS_FILE).unlink(missing_ok=True)
        print("linkflow up: stopped", flush=True)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"
