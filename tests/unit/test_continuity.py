"""The history processor's input continuity check: duplicates skipped, a gap sought back
and never skipped over, a stalled partition sought back, a gap that never fills accepted."""

from __future__ import annotations

from processors.continuity import Continuity

T = "p.linkflow.commands"
R = "p.linkflow.results"


def where(record: tuple[str, int, int]) -> tuple[str, int, int]:
    return record


def loaded(stored: bytes | None = None) -> Continuity:
    c = Continuity(accept_gap_after=10, stall_after=3)
    c.load(0, [T, R], stored)
    return c


def test_records_in_order_are_kept_and_remembered() -> None:
    c = loaded()
    v = c.filter([(T, 0, 0), (R, 0, 0), (T, 0, 1)], where, now=0)
    assert v.keep == [(T, 0, 0), (T, 0, 1), (R, 0, 0)] and not v.seek
    again = Continuity()
    again.load(0, [T, R], c.stored(0))
    assert again.filter([(T, 0, 2), (R, 0, 1)], where, now=0).keep == [(T, 0, 2), (R, 0, 1)]


def test_duplicates_are_skipped() -> None:
    c = loaded(b'{"p.linkflow.commands": 4}')
    v = c.filter([(T, 0, 3), (T, 0, 4), (T, 0, 5)], where, now=0)
    assert v.keep == [(T, 0, 5)] and v.duplicates == 2


def test_a_gap_is_sought_back_and_nothing_after_it_is_processed() -> None:
    c = loaded(b'{"p.linkflow.commands": 4}')
    v = c.filter([(T, 0, 5), (T, 0, 7), (T, 0, 8)], where, now=0)
    assert v.keep == [(T, 0, 5)] and v.seek == {(T, 0): 6}
    # A stale record after the seek is dropped too; the missing one, when it comes, is kept.
    assert c.filter([(T, 0, 8)], where, now=1).seek == {(T, 0): 6}
    v = c.filter([(T, 0, 6), (T, 0, 7), (T, 0, 8)], where, now=2)
    assert v.keep == [(T, 0, 6), (T, 0, 7), (T, 0, 8)] and not v.seek


def test_a_gap_that_never_fills_is_accepted_after_a_while() -> None:
    c = loaded(b'{"p.linkflow.commands": 4}')
    assert c.filter([(T, 0, 7)], where, now=0).seek == {(T, 0): 5}
    assert c.filter([(T, 0, 7)], where, now=9).seek == {(T, 0): 5}
    v = c.filter([(T, 0, 7)], where, now=10)
    assert v.keep == [(T, 0, 7)] and not v.seek


def test_a_partition_with_records_waiting_and_nothing_arriving_is_sought_back() -> None:
    c = loaded(b'{"p.linkflow.commands": 4, "p.linkflow.results": 9}')
    highwaters = {(T, 0): 7, (R, 0): 10, ("other", 0): 99}
    assert c.stalled(highwaters, now=0) == {}
    assert c.stalled(highwaters, now=2.9) == {}
    assert c.stalled(highwaters, now=3) == {(T, 0): 5}
    # Progress resets the clock.
    c.filter([(T, 0, 5), (T, 0, 6)], where, now=4)
    assert c.stalled(highwaters, now=6) == {}


def test_forget_drops_what_another_instance_may_have_moved_on() -> None:
    c = loaded(b'{"p.linkflow.commands": 4}')
    c.forget()
    assert not c.loaded(0)
