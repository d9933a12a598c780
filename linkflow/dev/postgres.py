"""A private PostgreSQL cluster under the state directory, on 127.0.0.1.

The server binaries come from Debian's packages (installed when missing). initdb refuses
to run as root, so as root every server command runs as an unprivileged system user.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from linkflow.dev.procs import StackError, port_free, tail, wait_until

DATABASE = "linkflow"
ROLE = "linkflow"
PASSWORD = "linkflow"  # a loopback-only development cluster; real deployments bring their own
START_TIMEOUT = 60


def _bindir() -> Path | None:
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def ensure_binaries() -> Path:
    found = _bindir()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            "PostgreSQL server binaries (pg_ctl, initdb) are not installed; "
            "install Debian's 'postgresql' package or set LINKFLOW_DATABASE_URL"
        )
    print(
        "Installing PostgreSQL from Debian's packages (first run only) ...",
        file=sys.stderr,
        flush=True,
    )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"],
    ):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    found = _bindir()
    if found is None:
        raise StackError("installed 'postgresql' but found no pg_ctl under /usr/lib/postgresql")
    return found


def _service_user() -> str | None:
    """The unprivileged user the server runs as when we are root, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "linkflow"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "linkflow"],
        check=True,
        capture_output=True,
    )
    return "linkflow"


class PostgresServer:
    def __init__(self, state: Path, port: int) -> None:
        self.state = state
        self.port = port

    @functools.cached_property
    def root(self) -> Path:
        """Where the cluster lives: `<state>/postgres`, or a link to a reachable place.

        As root the server runs as an unprivileged user, who cannot enter a state directory
        below a private folder (a clone under a mode-700 temp dir, say). Then the cluster
        goes to a per-project folder under the system temp dir, linked from the state dir.
        """
        link = self.state / "postgres"
        if link.is_symlink() or link.exists():
            return link.resolve()
        user = _service_user() if os.geteuid() == 0 else None
        if user is None or self._reachable(user, self.state):
            return link
        digest = hashlib.sha1(str(self.state.resolve()).encode()).hexdigest()[:12]
        home = Path(tempfile.gettempdir()) / f"linkflow-{digest}"
        home.mkdir(mode=0o755, exist_ok=True)
        home.chmod(0o755)
        (home / "postgres").mkdir(exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        link.symlink_to(home / "postgres")
        return home / "postgres"

    def _reachable(self, user: str, path: Path) -> bool:
        probe = path
        while not probe.exists():  # not created yet: its nearest existing ancestor decides
            probe = probe.parent
        return self._run(user, "test", "-x", str(probe)).returncode == 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def _cmd(self, user: str | None, *args: str) -> list[str]:
        return ["runuser", "-u", user, "--", *args] if user else list(args)

    def _run(
        self, user: str | None, *args: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._cmd(user, *args),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            cwd="/",
        )

    def version(self) -> str:
        bindir = _bindir()
        if bindir is None:
            return "not installed"
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
        ).stdout
        match = re.search(r"(\d+(?:\.\d+)*)", out)
        return match.group(1) if match else out.strip()

    def running(self) -> bool:
        bindir = _bindir()
        if bindir is None or not (self.data / "PG_VERSION").exists():
            return False
        # pg_ctl, like initdb, refuses to run as root.
        result = self._run(_service_user(), str(bindir / "pg_ctl"), "status", "-D", str(self.data))
        return result.returncode == 0

    def healthy(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def start(self) -> bool:
        """Start the cluster (creating it on first use); False when it was already running."""
        bindir = ensure_binaries()
        user = _service_user()
        if self.running():
            if self.healthy():
                return False
            # Running but not answering us (a half-done first start): stop and start over.
            self.stop()
        if not wait_until(lambda: port_free(self.port), 10.0):
            raise StackError(
                f"port {self.port} is already in use by another process, so "
                f"PostgreSQL cannot bind it; free it or choose another port "
                f"(LINKFLOW_POSTGRES_PORT or --postgres-port)"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        if user:
            for path in (self.root, self.run_dir):
                shutil.chown(path, user)
            if self._run(user, "test", "-w", str(self.root)).returncode != 0:
                raise StackError(
                    f"user {user!r} cannot reach {self.root}; put the state "
                    f"directory somewhere it can traverse (LINKFLOW_HOME)"
                )
        fresh = not (self.data / "PG_VERSION").exists()
        if fresh:
            self._initdb(bindir, user)
        result = self._run(
            user,
            str(bindir / "pg_ctl"),
            "start",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(START_TIMEOUT),
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.run_dir}",
            timeout=START_TIMEOUT + 30,
        )
        if result.returncode != 0:
            raise StackError(
                f"PostgreSQL did not start:\n{result.stdout}{result.stderr}\n{tail(self.log)}"
            )
        self._ensure_database()
        return True

    def _initdb(self, bindir: Path, user: str | None) -> None:
        # An initdb cut off half way leaves a directory it refuses to reuse.
        shutil.rmtree(self.data, ignore_errors=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if user:
            shutil.chown(pwfile, user)
        try:
            result = self._run(
                user,
                str(bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def _ensure_database(self) -> None:
        import psycopg

        admin = f"host={self.run_dir} port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            if (
                conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
                is None
            ):
                conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}' CREATEDB")
            if (
                conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
                is None
            ):
                conn.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")

    def stop(self) -> bool:
        bindir = _bindir()
        if bindir is None or not self.running():
            return False
        user = _service_user()
        result = self._run(
            user,
            str(bindir / "pg_ctl"),
            "stop",
            "-D",
            str(self.data),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
        )
        if result.returncode != 0:
            raise StackError(f"PostgreSQL did not stop:\n{result.stdout}{result.stderr}")
        return True
