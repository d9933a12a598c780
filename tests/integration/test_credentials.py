"""Stored credentials on the real stack: stored through the CLI and API (encrypted with
LINKFLOW_APP_KEY), decrypted only by the worker that makes the call, and the secret found
nowhere else: not on any topic, in any PostgreSQL row, in any API response or in any
process's log, even when the server called echoes it back in a result and in an error."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka.admin import AdminClient
from test_runtime_support import http_get, http_server, runtime_with_api, unique_id
from test_timers_support import wait_until

from linkflow import transport
from linkflow.cli.main import main
from linkflow.secrets import laravel
from linkflow.verify import read_to_end


def _flow(workflow_id: str, url: str) -> dict[str, Any]:
    return {
        "id": workflow_id,
        "version": 1,
        "nodes": [
            {"id": "start", "type": "trigger"},
            {
                "id": "call",
                "type": "http",
                "config": {"url": url, "credentials": "echo-cred"},
                "retry": {"max_attempts": 1},
            },
        ],
        "edges": [{"source": "start", "target": "call"}],
    }


def test_a_stored_credential_is_used_by_the_worker_and_found_nowhere_else(
    kafka_bootstrap: str,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    monkeypatch.setenv(laravel.ENV_APP_KEY, laravel.generate_key())  # API and workers
    monkeypatch.setenv("ECHO_TOKEN", secret)
    with (
        http_server() as server,
        runtime_with_api(kafka_bootstrap, database_url, tmp_path, "creds") as (rt, api),
    ):
        rt.start_worker("http-worker", "http")
        argv = ["credentials", "set", "echo-cred", "--type", "bearer", "--api", api]
        assert main([*argv, "--field-env", "token=ECHO_TOKEN"]) == 0
        assert main(["credentials", "list", "--json", "--api", api]) == 0
        listed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
        assert [(c["name"], c["type"]) for c in listed["credentials"]] == [("echo-cred", "bearer")]

        ok_flow, failing_flow = unique_id("cred-ok"), unique_id("cred-fail")
        rt.register(_flow(ok_flow, f"{server.url}/headers/200"))
        rt.register(_flow(failing_flow, f"{server.url}/headers/400"))
        ok = rt.run(ok_flow, {})
        failed = rt.run(failing_flow, {})
        assert ok.status == "completed", ok
        assert failed.status == "failed", failed

        # The worker decrypted the credential and sent it; what came back was scrubbed.
        assert [h.get("Authorization") for h in server.headers_seen] == [f"Bearer {secret}"] * 2
        sent = {k.lower(): v for k, v in ok.output["body"]["headers"].items()}
        assert sent["authorization"] == "[redacted]"  # the whole header value is secret
        error = json.dumps(failed.error)
        assert "[redacted]" in error

        ids = [ok.execution_id, failed.execution_id]
        wait_until(
            lambda: all(
                http_get(f"{api}/v1/executions/{e}")[1].get("status") in ("completed", "failed")
                for e in ids
            ),
            60,
            "the API to show both executions closed",
        )
        answers = [
            http_get(url)[1]
            for e in ids
            for url in (f"{api}/v1/executions/{e}", f"{api}/v1/executions/{e}/history")
        ]
        answers.append(http_get(f"{api}/v1/credentials")[1])
        rt.check_alive()
        logs = "".join(p.log_text() for p in rt.processes.values())
        topics = _every_topic(kafka_bootstrap, rt.prefix)
        credentials_topic = rt.prefix + transport.CREDENTIALS

    needle = secret.encode()
    assert topics.get(credentials_topic)  # it holds the record
    for topic, values in topics.items():
        assert not any(needle in v for v in values), f"the secret is on {topic}"
    assert secret not in json.dumps(answers), "an API response holds the secret"
    assert secret not in logs, "a process logged the secret"
    assert secret not in capsys.readouterr().out
    # The search finds what is there (the workflow id), and not the secret.
    assert "history_events" in _tables_holding(database_url, ok_flow, ids)
    assert _tables_holding(database_url, secret, ids) == [], "a PostgreSQL row holds the secret"


def _every_topic(bootstrap: str, prefix: str) -> dict[str, list[bytes]]:
    names = [
        t
        for t in AdminClient(transport.client_config(bootstrap)).list_topics(timeout=30).topics
        if t.startswith(prefix)
    ]
    found: dict[str, list[bytes]] = {}
    for name in names:
        found[name] = [
            (m.key() or b"") + b"\n" + (m.value() or b"")
            + b"".join(v or b"" for _, v in m.headers() or [])
            for m in read_to_end(bootstrap, name, timeout=60)
        ]  # fmt: skip
    return found


def _tables_holding(database_url: str, needle: str, executions: list[str]) -> list[str]:
    """The tables with a row of `executions` (or, in a table without execution ids, any row)
    whose text holds `needle`. Only this test's rows: the database holds every earlier
    test's, millions of events on a machine that ran the benchmark."""
    with psycopg.connect(database_url) as conn:
        columns: dict[str, set[str]] = {}
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        ):
            columns.setdefault(table, set()).add(column)
        assert {"executions", "node_executions", "history_events"} <= set(columns)
        holding = []
        for table, names in columns.items():
            mine = "execution_id = ANY(%s) AND " if "execution_id" in names else ""
            params = (executions, needle) if mine else (needle,)
            query = (
                f'SELECT EXISTS (SELECT 1 FROM "{table}" t WHERE {mine}'
                "strpos(to_jsonb(t)::text, %s) > 0)"
            )
            if conn.execute(query, params).fetchone()[0]:
                holding.append(table)
        return holding
