"""The stack's PostgreSQL answers queries as the linkflow role in the linkflow database."""

from __future__ import annotations

import psycopg


def test_postgres_answers_a_query(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TEMP TABLE probe (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO probe VALUES (1, 'hello'), (2, 'world')")
        rows = conn.execute("SELECT note FROM probe ORDER BY id").fetchall()
        version = conn.execute("SHOW server_version_num").fetchone()
    assert rows == [("hello",), ("world",)]
    assert version is not None and int(version[0]) >= 150000
