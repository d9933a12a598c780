"""The user payload limit, declared once (linkflow.transport.MAX_PAYLOAD_BYTES), refused
by the client SDK before anything is sent and turned into a failure by the worker."""

from __future__ import annotations

import pytest

from linkflow import transport
from linkflow.client import Client
from linkflow.worker import messages
from linkflow.worker.execute import Outcome
from linkflow.worker.worker import Worker, WorkerConfig


def test_payload_size_is_compact_utf8_json() -> None:
    assert transport.payload_bytes({"a": [1, 2]}) == len(b'{"a":[1,2]}')
    assert transport.payload_bytes("é") == len('"é"'.encode())
    transport.check_payload("input", "x" * (transport.MAX_PAYLOAD_BYTES - 2))
    with pytest.raises(transport.PayloadTooLarge, match="input is 524290 bytes"):
        transport.check_payload("input", "x" * transport.MAX_PAYLOAD_BYTES)


def test_the_client_refuses_an_oversized_input_or_signal_before_sending() -> None:
    # No broker at this address: refusing must not need one.
    client = Client("127.0.0.1:1")
    try:
        with pytest.raises(transport.PayloadTooLarge):
            client.start("wf", {"blob": "x" * 600_000}, flush=False)
        with pytest.raises(transport.PayloadTooLarge):
            client.signal("exec-1", "go", "y" * 600_000)
    finally:
        client._producer.purge()


def test_the_worker_fails_an_oversized_result_for_good() -> None:
    worker = Worker(WorkerConfig(bootstrap_servers="127.0.0.1:1", queue="default"))
    task = messages.ActivityTask("exec-1", "big", 1, "big", "code", None)
    value, outcome = worker._encode(task, Outcome(result="x" * 600_000))
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("PayloadTooLarge", False)
    assert len(value) < 10_000
    small, fine = worker._encode(task, Outcome(result="x" * 1000))
    assert fine.ok and len(small) > 1000


def test_a_processor_refuses_topics_that_cannot_take_its_largest_record() -> None:
    from linkflow.topics.model import ObservedTopic
    from processors.topics import TopicTooSmall, check_record_limit

    check_record_limit(ObservedTopic("ok", 12, 1, {"max.message.bytes": "1048576"}))
    check_record_limit(ObservedTopic("unknown", 12, 1, {}))
    with pytest.raises(TopicTooSmall, match=r"small\.topic has max\.message\.bytes=500000"):
        check_record_limit(ObservedTopic("small.topic", 12, 1, {"max.message.bytes": "500000"}))


def test_the_cli_refuses_an_oversized_input_before_sending(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from linkflow.cli.main import main

    big = '{"blob": "' + "x" * 600_000 + '"}'
    # No API at this address: refusing must not need one.
    with pytest.raises(SystemExit) as exit_info:
        main(["start", "wf", "--input", big, "--api", "http://127.0.0.1:1"])
    assert exit_info.value.code == 2
    assert "524288" in capsys.readouterr().err


def test_limit_settings_default_override_and_refuse_out_of_range() -> None:
    from linkflow.limits import HISTORY_EVENTS, PAYLOAD_BYTES, LimitSettingError

    assert PAYLOAD_BYTES.value({}) == 512 * 1024 == transport.MAX_PAYLOAD_BYTES
    assert HISTORY_EVENTS.value({}) == 50_000
    assert PAYLOAD_BYTES.value({"LINKFLOW_MAX_PAYLOAD_BYTES": "65_536"}) == 65536
    assert HISTORY_EVENTS.value({"LINKFLOW_MAX_HISTORY_EVENTS": " 200000 "}) == 200_000
    with pytest.raises(LimitSettingError, match="LINKFLOW_MAX_PAYLOAD_BYTES=600000 is out"):
        PAYLOAD_BYTES.value({"LINKFLOW_MAX_PAYLOAD_BYTES": "600000"})
    with pytest.raises(LimitSettingError, match="not a whole number of events"):
        HISTORY_EVENTS.value({"LINKFLOW_MAX_HISTORY_EVENTS": "lots"})
    with pytest.raises(LimitSettingError, match="100 to 1000000"):
        HISTORY_EVENTS.value({"LINKFLOW_MAX_HISTORY_EVENTS": "99"})


def test_a_lower_payload_limit_set_in_the_environment_is_what_a_process_enforces() -> None:
    import os
    import subprocess
    import sys

    code = (
        "from linkflow import transport\n"
        "transport.check_payload('input', 'x' * 2000)\n"
        "try:\n"
        "    transport.check_payload('input', 'x' * 5000)\n"
        "except transport.PayloadTooLarge as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "LINKFLOW_MAX_PAYLOAD_BYTES": "4096"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "the largest payload LinkFlow accepts is 4096 bytes" in out
