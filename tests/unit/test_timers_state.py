"""The timers tables as plain dicts: keys sort by due time, every change is idempotent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from processors.state_store import OFFSET_KEY
from processors.timers_state import (
    FIRST_DUE_KEY,
    Timer,
    TimerTables,
    decode_timer,
    due_key,
    encode_timer,
    fire_at_of,
    index_key,
    is_due_key,
)


def _tables() -> tuple[TimerTables, dict[bytes, bytes], dict[bytes, bytes]]:
    due: dict[bytes, bytes] = {}
    index: dict[bytes, bytes] = {}
    return TimerTables(due, index), due, index


def _prefix_scan(index: dict[bytes, bytes]):  # type: ignore[no-untyped-def]
    def keys(prefix: bytes) -> Iterator[bytes]:
        return iter(sorted(k for k in index if k.startswith(prefix)))

    return keys


def test_due_keys_sort_in_due_order_whatever_the_ids() -> None:
    timers = [
        Timer("zzz", "a", 1_760_000_000_500),
        Timer("aaa", "z", 1_760_000_000_100),
        Timer("mmm", "m", 999),
        Timer("aaa", "b", 1_760_000_000_100),
    ]
    ordered = sorted(timers, key=due_key)
    assert [t.fire_at_ms for t in ordered] == [
        999,
        1_760_000_000_100,
        1_760_000_000_100,
        1_760_000_000_500,
    ]
    assert all(is_due_key(due_key(t)) and fire_at_of(due_key(t)) == t.fire_at_ms for t in timers)


def test_ids_with_separator_like_characters_do_not_collide() -> None:
    assert due_key(Timer("a|b", "c", 1)) != due_key(Timer("a", "b|c", 1))
    assert index_key("a/b", "c") != index_key("a", "b/c")


def test_store_and_index_keys_are_not_due_keys_and_sort_before_them() -> None:
    last_due = due_key(Timer("e", "t", 10**15 - 1))
    first_due = due_key(Timer("e", "t", 0))
    for other in (OFFSET_KEY, index_key("9e", "t"), index_key("e", "t")):
        assert not is_due_key(other)
        assert other < FIRST_DUE_KEY <= first_due <= last_due


def test_fire_at_is_clamped_to_the_key_width() -> None:
    assert fire_at_of(due_key(Timer("e", "t", -5))) == 0
    assert fire_at_of(due_key(Timer("e", "t", 10**20))) == 10**15 - 1


def test_value_round_trips() -> None:
    timer = Timer("exec-ü", "t/1", 1_760_000_000_000)
    assert decode_timer(encode_timer(timer)) == timer


def test_start_then_fire_removes_both_entries() -> None:
    tables, due, index = _tables()
    timer = Timer("e1", "t1", 5_000)
    added, replaced = tables.start(timer)
    assert added == due_key(timer) and replaced is None
    assert due == {added: encode_timer(timer)} and index == {index_key("e1", "t1"): added}
    assert tables.remove("e1", "t1") == added
    assert due == {} and index == {}


def test_start_is_idempotent_and_a_restart_replaces_the_due_time() -> None:
    tables, due, _index = _tables()
    first = Timer("e1", "t1", 5_000)
    tables.start(first)
    assert tables.start(first) == (None, None)  # the same event delivered twice
    later = Timer("e1", "t1", 9_000)
    added, replaced = tables.start(later)
    assert added == due_key(later) and replaced == due_key(first)
    assert list(due) == [due_key(later)]


def test_removing_an_unknown_timer_is_a_no_op() -> None:
    tables, _due, _index = _tables()
    assert tables.remove("e1", "nope") is None
    tables.start(Timer("e1", "t1", 1))
    assert tables.remove("e1", "t1") is not None
    assert tables.remove("e1", "t1") is None  # redelivered TimerFired


def test_terminal_event_removes_only_that_executions_timers() -> None:
    tables, due, index = _tables()
    mine = [Timer("e1", f"t{i}", 1_000 + i) for i in range(3)]
    other = Timer("e10", "t0", 1_000)  # "e1" is a string prefix of "e10"
    for timer in [*mine, other]:
        tables.start(timer)
    removed = tables.remove_execution(_prefix_scan(index), "e1")
    assert sorted(removed) == sorted(due_key(t) for t in mine)
    assert list(due) == [due_key(other)]
    assert list(index) == [index_key("e10", "t0")]
    assert tables.remove_execution(_prefix_scan(index), "e1") == []


@pytest.mark.parametrize("fire_at", [0, 1, 1_760_000_000_000])
def test_due_key_prefix_is_fixed_width(fire_at: int) -> None:
    assert due_key(Timer("e", "t", fire_at))[15:16] == b"\x00"
