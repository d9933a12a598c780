"""Dead letters keep the original bytes and say in headers why and where they came from."""

from __future__ import annotations

from typing import Any

from linkflow import dlq
from linkflow.transport import DLQ


class RecordingProducer:
    """Stands in for confluent_kafka.Producer: records what would be produced."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((topic, kwargs))


def test_headers_name_reason_source_and_error_type() -> None:
    headers = dlq.dead_letter_headers(
        "bad_marker", "linkflow.tasks.q", 3, 42, "DecodeError", detail="x" * 5000, failed_at_ms=7
    )
    as_dict = dict(headers)
    assert as_dict[dlq.REASON] == b"bad_marker"
    assert as_dict[dlq.SOURCE_TOPIC] == b"linkflow.tasks.q"
    assert as_dict[dlq.SOURCE_PARTITION] == b"3"
    assert as_dict[dlq.SOURCE_OFFSET] == b"42"
    assert as_dict[dlq.ERROR_TYPE] == b"DecodeError"
    assert as_dict[dlq.FAILED_AT_MS] == b"7"
    assert len(as_dict[dlq.DETAIL]) == dlq.MAX_DETAIL_CHARS
    assert all(isinstance(v, bytes) for _, v in headers)


def test_produce_keeps_value_key_and_original_headers() -> None:
    producer = RecordingProducer()
    delivered: list[Any] = []
    dlq.produce_dead_letter(
        producer,
        b"\x00garbage",
        key=b"exec-1",
        reason="malformed",
        topic="linkflow.results",
        partition=0,
        offset=9,
        error_type="DecodeError",
        original_headers=[("trace", b"abc")],
        on_delivery=lambda err, msg: delivered.append(err),
    )
    [(topic, kwargs)] = producer.calls
    assert topic == DLQ
    assert kwargs["value"] == b"\x00garbage" and kwargs["key"] == b"exec-1"
    assert kwargs["headers"][0] == ("trace", b"abc")
    kwargs["on_delivery"](None, None)
    assert delivered == [None]

    info = dlq.read_dead_letter_headers(kwargs["headers"])
    assert info == dlq.DeadLetterInfo(
        reason="malformed",
        error_type="DecodeError",
        topic="linkflow.results",
        partition=0,
        offset=9,
        detail=None,
        failed_at_ms=info.failed_at_ms,
    )
    assert info.failed_at_ms is not None and info.failed_at_ms > 0
    assert dlq.without_dead_letter_headers(kwargs["headers"]) == [("trace", b"abc")]


def test_dlq_topic_can_be_prefixed() -> None:
    producer = RecordingProducer()
    dlq.produce_dead_letter(
        producer,
        None,
        key=None,
        reason="empty",
        topic="t",
        partition=1,
        offset=2,
        error_type="EmptyMessage",
        dlq_topic="test.linkflow.dlq",
    )
    assert producer.calls[0][0] == "test.linkflow.dlq"
    assert "on_delivery" not in producer.calls[0][1]


def test_reading_headers_never_raises_on_foreign_records() -> None:
    info = dlq.read_dead_letter_headers([(dlq.SOURCE_OFFSET, b"not a number"), ("x", None)])
    assert info.offset == -1 and info.reason == "" and info.failed_at_ms is None
    assert dlq.read_dead_letter_headers(None).partition == -1
