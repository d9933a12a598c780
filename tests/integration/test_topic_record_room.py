"""Every process that writes records refuses to start when a topic it writes cannot take the
largest record LinkFlow writes, naming the topic; it does not fail later, record by record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from test_timers_support import topics_of_our_own

from linkflow import transport


def _shrink(bootstrap: str, topic: str) -> None:
    admin = AdminClient(transport.client_config(bootstrap))
    entry = ConfigEntry("max.message.bytes", "500000", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)


def _linkflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linkflow.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_dead_letter_topic_too_small_stops_every_writer(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with topics_of_our_own(kafka_bootstrap, "small-dlq") as topics:
        dlq = topics.prefix + transport.DLQ
        _shrink(kafka_bootstrap, dlq)
        common = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topics.prefix]
        runs = {
            "engine": ["engine", "run", *common, "--datadir", str(tmp_path / "e")],
            "timers": ["timers", "run", *common, "--datadir", str(tmp_path / "t")],
            "worker": [
                "worker",
                "--bootstrap-servers",
                kafka_bootstrap,
                "--topic-prefix",
                topics.prefix,
            ],
        }
        for name, args in runs.items():
            done = _linkflow(*args)
            assert done.returncode == 2, (name, done.stdout, done.stderr)
            assert f"error: topic {dlq} has max.message.bytes=500000" in done.stderr, name
            assert "Traceback" not in done.stderr, name
