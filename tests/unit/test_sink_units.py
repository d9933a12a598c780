"""Small pure parts of the sink: record decoding, partition positions, backoff."""

from __future__ import annotations

from dataclasses import dataclass

from connect.backoff import Backoff
from connect.decode import check_event, decode_records
from connect.partitions import Partitions
from linkflow.codec import encode_history


@dataclass
class FakeRecord:
    _value: bytes | None
    _offset: int
    _partition: int = 0
    _key: bytes | None = b"e1"
    _headers: list[tuple[str, bytes | None]] | None = None

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes | None]] | None:
        return self._headers


def _event(event_id: int = 1, timestamp_ms: int = 1_760_000_000_000) -> dict[str, object]:
    return {
        "execution_id": "e1",
        "event_id": event_id,
        "timestamp_ms": timestamp_ms,
        "event_type": "TimerFired",
        "attributes": {"timer_id": "t1"},
    }


def test_decode_keeps_consume_order_and_rejects_what_it_cannot_read() -> None:
    records = [
        FakeRecord(encode_history(_event(1)), 10),
        FakeRecord(b"garbage", 11, _headers=[("trace", b"x")]),
        FakeRecord(None, 12),
        FakeRecord(encode_history(_event(0)), 13),
        FakeRecord(encode_history(_event(2, timestamp_ms=-5)), 14),
        FakeRecord(encode_history(_event(3)), 15),
    ]
    decoded = decode_records(records)
    assert [(i.offset, i.event is not None) for i in decoded.items] == [
        (10, True),
        (11, False),
        (12, False),
        (13, False),
        (14, False),
        (15, True),
    ]
    assert [(r.offset, r.reason) for r in decoded.rejected] == [
        (11, "bad_marker"),
        (12, "empty"),
        (13, "invalid_event"),
        (14, "invalid_event"),
    ]
    garbage = decoded.rejected[0]
    assert garbage.value == b"garbage" and garbage.key == b"e1"
    assert garbage.headers == (("trace", b"x"),)
    assert garbage.error_type == "DecodeError"


def test_check_event() -> None:
    assert check_event(_event()) is None
    assert check_event({**_event(), "execution_id": ""}) == "empty execution_id"
    assert "out of range" in (check_event(_event(timestamp_ms=10**17)) or "")


def test_partitions_track_positions_and_ownership() -> None:
    parts = Partitions()
    parts.assign([0, 1])
    assert parts.pending() == [0, 1] and parts.ready() == []
    assert not parts.accepts(0, 0)  # nothing before the stored offset is known
    parts.start(0, 42)
    parts.start(1, None)
    assert parts.ready() == [0, 1]
    assert not parts.accepts(0, 41) and parts.accepts(0, 42)
    assert parts.accepts(1, 0)
    parts.advance(0, 50)
    state = parts.get(0)
    assert state is not None and (state.position, state.stored) == (50, 50)
    assert not parts.accepts(0, 49)
    parts.reset(0)
    assert parts.pending() == [0] and not parts.accepts(0, 60)
    parts.revoke([0])
    assert parts.owned() == [1] and not parts.accepts(0, 60)
    parts.advance(7, 1)  # a revoked partition's late batch changes nothing
    assert parts.get(7) is None


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(initial=0.2, maximum=2.0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert 0.1 <= delays[0] <= 0.2
    assert all(d <= 2.0 for d in delays)
    assert delays[-1] >= 1.0
    backoff.reset()
    assert backoff.next_delay() <= 0.2


def test_sink_run_options_default_to_a_short_session_and_a_batch_interval() -> None:
    from connect.sink import DEFAULT_BATCH_WITHIN, DEFAULT_SESSION_TIMEOUT
    from linkflow.cli.main import build_parser

    args = build_parser().parse_args(["sink", "run"])
    assert (args.session_timeout, args.batch_within) == (
        DEFAULT_SESSION_TIMEOUT,
        DEFAULT_BATCH_WITHIN,
    )
    assert isinstance(DEFAULT_BATCH_WITHIN, float) and DEFAULT_SESSION_TIMEOUT < 45
    args = build_parser().parse_args(["sink", "run", "--session-timeout", "7"])
    assert args.session_timeout == 7.0
