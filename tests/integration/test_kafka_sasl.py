"""Kafka security settings reach every client: the whole runtime (history and timers
processors, a worker, the sink, the API, the client and the topic tool) runs a workflow
end to end on the local broker's SASL_PLAINTEXT listener, and a wrong password is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from test_runtime_support import http_get, linear, runtime_with_api, unique_id
from test_timers_support import wait_until

from linkflow import transport
from linkflow.dev.kafka import SASL_PASSWORD, SASL_PORT_OFFSET, SASL_USERNAME


def _sasl(monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    # Set in this process's environment: the runtime's processes inherit it, as they
    # would from a deployment's.
    monkeypatch.setenv("LINKFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("LINKFLOW_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("LINKFLOW_KAFKA_SASL_USERNAME", SASL_USERNAME)
    monkeypatch.setenv("LINKFLOW_KAFKA_SASL_PASSWORD", password)


def test_a_workflow_runs_end_to_end_over_sasl(
    kafka_bootstrap: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = kafka_bootstrap.rsplit(":", 1)
    sasl = f"{host}:{int(port) + SASL_PORT_OFFSET}"
    _sasl(monkeypatch, SASL_PASSWORD)
    with runtime_with_api(sasl, database_url, tmp_path, "sasl") as (rt, api):
        wf = unique_id("sasl-flow")
        rt.register(linear(wf, ["echo", "noop"], s1={"value": "{{ trigger.n }}"}))
        outcome = rt.run(wf, {"n": 7})
        assert outcome.status == "completed", outcome

        def shown() -> bool:
            status, body, _ = http_get(f"{api}/v1/executions/{outcome.execution_id}")
            return status == 200 and body["status"] == "completed"

        wait_until(shown, 60, "the API (sink and API over SASL) to show it completed")
        logs = rt.logs()
        assert "Authentication failed" not in logs

    _sasl(monkeypatch, "not-the-password")
    admin = AdminClient(transport.client_config(sasl, **{"socket.timeout.ms": 5000}))
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
