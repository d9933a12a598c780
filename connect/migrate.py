"""Versioned SQL migrations for the visibility database.

Files in `connect/migrations/` are named `NNN_name.sql`; each is applied once, in version
order, inside its own transaction together with its row in `schema_migrations`, so a
migration either fully happens or not at all. The sink and the query API both call
`migrate()` at start; a session-level advisory lock makes concurrent starters take turns,
and whoever comes second finds nothing left to do.

    python -m connect.migrate [DATABASE_URL]
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant works as long as every LinkFlow process agrees on it; this one spells "LFMIGRAT".
ADVISORY_LOCK_KEY = 0x4C464D4947524154
_NAME = re.compile(r"^(\d+)_([A-Za-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path.name} is not named NNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations with version {version}: {path.name}")
        found[version] = Migration(version, match.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


def migrate(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply every pending migration; returns the versions applied by this call."""
    migrations = load_migrations(directory)
    applied_now: list[int] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Session lock rather than a transaction lock: it must span several transactions.
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            conn.execute(_CREATE_TABLE)
            rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
            applied = {int(version): str(checksum) for version, checksum in rows}
            for migration in migrations:
                recorded = applied.get(migration.version)
                if recorded is not None:
                    if recorded != migration.checksum:
                        # Editing an applied migration changes nothing in existing databases;
                        # say so loudly instead of refusing to start a running system.
                        log.warning(
                            "migration %03d_%s changed after it was applied; "
                            "add a new migration instead",
                            migration.version,
                            migration.name,
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                log.info("applied migration %03d_%s", migration.version, migration.name)
                applied_now.append(migration.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return applied_now


def main(argv: list[str] | None = None) -> int:
    from linkflow import settings

    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    url = args[0] if args else settings.database_url()
    applied = migrate(url)
    print(f"applied {len(applied)} migration(s): {applied}" if applied else "schema up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
