"""Migrations: versioned, each in one transaction, safe when several processes start at once.

Each test migrates a fresh schema (search_path) so it sees an empty database without
disturbing the shared one.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from connect.migrate import MIGRATIONS_DIR, MigrationError, load_migrations, migrate


@pytest.fixture
def schema_url(database_url: str) -> Iterator[str]:
    schema = f"test_migrate_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield psycopg.conninfo.make_conninfo(database_url, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    return {r[0] for r in rows}


def test_concurrent_starters_apply_each_migration_once(schema_url: str) -> None:
    versions = [m.version for m in load_migrations()]
    results: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        try:
            barrier.wait()
            results.append(migrate(schema_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(results, key=len) == [[]] * 5 + [versions]
    assert {"executions", "node_executions", "history_events", "sink_offsets"} <= _tables(
        schema_url
    )
    with psycopg.connect(schema_url) as conn:
        recorded = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert recorded == versions
    assert migrate(schema_url) == []


def test_a_failing_migration_leaves_nothing_behind(schema_url: str, tmp_path: Path) -> None:
    first = min(MIGRATIONS_DIR.glob("001_*.sql"))
    (tmp_path / first.name).write_text(first.read_text())
    (tmp_path / "002_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nALTER TABLE no_such_table ADD COLUMN x int;\n"
    )
    with pytest.raises(psycopg.errors.UndefinedTable):
        migrate(schema_url, tmp_path)
    tables = _tables(schema_url)
    assert "executions" in tables and "half_done" not in tables
    with psycopg.connect(schema_url) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations")] == [1]

    (tmp_path / "002_broken.sql").write_text("CREATE TABLE half_done (id int);\n")
    assert migrate(schema_url, tmp_path) == [2]
    assert "half_done" in _tables(schema_url)


def test_misnamed_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError):
        load_migrations(tmp_path)
