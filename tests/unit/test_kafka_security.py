"""Kafka client security settings: a librdkafka properties file and LINKFLOW_KAFKA_*
variables reach every client configuration (tests/integration/test_kafka_sasl.py runs the
runtime on a SASL listener)."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkflow import transport


def test_settings_file_and_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "client.properties"
    path.write_text("# comment\nsecurity.protocol=SSL\nssl.ca.location = /etc/ca.pem\n\n")
    monkeypatch.setenv(transport.ENV_KAFKA_CONFIG_FILE, str(path))
    monkeypatch.setenv("LINKFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    config = transport.consumer_config("b:9092", "g")
    assert config["security.protocol"] == "SASL_SSL"  # the variable wins over the file
    assert config["ssl.ca.location"] == "/etc/ca.pem"
    assert transport.producer_config("b:9092")["ssl.ca.location"] == "/etc/ca.pem"
    path.write_text("no equals sign\n")
    with pytest.raises(transport.KafkaConfigError, match="line 1: expected key=value"):
        transport.client_config("b:9092")
