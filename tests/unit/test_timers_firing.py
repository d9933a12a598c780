"""The firing loop over in-memory ordered stores with a hand-driven clock."""

from __future__ import annotations

import bisect

from processors.state_store import OFFSET_KEY
from processors.timers_firing import Firer
from processors.timers_state import Timer, due_key, encode_timer, index_key


class FakeIterator:
    def __init__(self, items: list[tuple[bytes, bytes]]) -> None:
        self._items = items
        self._pos = 0

    def seek(self, key: bytes) -> None:
        self._pos = bisect.bisect_left([k for k, _ in self._items], key)

    def valid(self) -> bool:
        return self._pos < len(self._items)

    def key(self) -> bytes:
        return self._items[self._pos][0]

    def value(self) -> bytes:
        return self._items[self._pos][1]

    def next(self) -> None:
        self._pos += 1


class FakeStore:
    """An ordered byte store like a partition store: its offset key and an index key in
    it beside the due keys."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {OFFSET_KEY: b"42", index_key("e", "t"): b"x"}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def iter(self) -> FakeIterator:
        return FakeIterator(sorted(self.data.items()))

    def add(self, timer: Timer) -> bytes:
        key = due_key(timer)
        self.data[key] = encode_timer(timer)
        return key


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000
        self.mono = 0.0

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)
        self.mono += seconds


def _firer(clock: Clock, **kwargs: object) -> tuple[Firer, list[tuple[Timer, int]], list[float]]:
    sent: list[tuple[Timer, int]] = []
    lateness: list[float] = []

    def send(timer: Timer, fired_at_ms: int) -> None:
        sent.append((timer, fired_at_ms))

    firer = Firer(
        send,
        observe_lateness=lateness.append,
        wall_ms=lambda: clock.ms,
        monotonic=lambda: clock.mono,
        **kwargs,  # type: ignore[arg-type]
    )
    return firer, sent, lateness


def test_fires_due_timers_in_order_and_reports_the_next_due_time() -> None:
    clock = Clock()
    store = FakeStore()
    early = Timer("e1", "t1", clock.ms - 10)
    now = Timer("e2", "t1", clock.ms)
    later = Timer("e3", "t1", clock.ms + 500)
    for timer in (later, now, early):
        store.add(timer)
    firer, sent, lateness = _firer(clock)
    next_ms = firer.fire_due({0: store})
    assert [t for t, _ in sent] == [early, now]
    assert all(fired_at == clock.ms for _, fired_at in sent)
    assert lateness == [0.01, 0.0]
    assert next_ms == later.fire_at_ms


def test_a_sent_timer_is_not_sent_again_until_the_resend_interval() -> None:
    clock = Clock()
    store = FakeStore()
    timer = Timer("e1", "t1", clock.ms)
    store.add(timer)
    firer, sent, _ = _firer(clock, resend_interval=5.0)
    (firer.fire_due({0: store}))
    clock.advance(4.9)
    (firer.fire_due({0: store}))
    assert len(sent) == 1
    clock.advance(0.2)
    (firer.fire_due({0: store}))
    assert len(sent) == 2 and firer.resent_total == 1


def test_a_confirmed_timer_is_never_resent() -> None:
    clock = Clock()
    store = FakeStore()
    key = store.add(Timer("e1", "t1", clock.ms))
    firer, sent, _ = _firer(clock, resend_interval=1.0)
    (firer.fire_due({0: store}))
    del store.data[key]  # the stream saw the history's TimerFired
    firer.on_removed(0, key)
    clock.advance(10)
    (firer.fire_due({0: store}))
    assert len(sent) == 1 and firer.pending_sent == 0


def test_a_timer_added_before_the_start_key_is_still_fired() -> None:
    clock = Clock()
    store = FakeStore()
    store.add(Timer("e1", "t1", clock.ms - 5))
    firer, sent, _ = _firer(clock)
    (firer.fire_due({0: store}))
    # A timer that was already due when it arrived sorts before everything read so far.
    overdue = Timer("e0", "t9", clock.ms - 1_000)
    firer.on_added(0, store.add(overdue))
    (firer.fire_due({0: store}))
    assert [t for t, _ in sent][-1] == overdue and len(sent) == 2


def test_an_earlier_timer_wakes_the_loop() -> None:
    clock = Clock()
    firer, _, _ = _firer(clock)
    firer.next_wake_ms = clock.ms + 1_000
    firer.woken = False
    firer.on_added(0, due_key(Timer("e", "t", clock.ms + 2_000)))
    assert not firer.woken
    firer.on_added(0, due_key(Timer("e", "t", clock.ms + 500)))
    assert firer.woken


def test_batch_limit_cuts_a_pass_short_and_the_next_pass_continues() -> None:
    clock = Clock()
    store = FakeStore()
    for i in range(5):
        store.add(Timer(f"e{i}", "t", clock.ms - 100 + i))
    firer, sent, _ = _firer(clock, max_batch=2)
    assert (firer.fire_due({0: store})) == clock.ms  # come back at once
    assert len(sent) == 2
    (firer.fire_due({0: store}))
    (firer.fire_due({0: store}))
    assert sorted(t.execution_id for t, _ in sent) == [f"e{i}" for i in range(5)]


def test_revoked_partitions_are_forgotten_and_reset_rereads_from_the_start() -> None:
    clock = Clock()
    a, b = FakeStore(), FakeStore()
    a.add(Timer("ea", "t", clock.ms))
    b.add(Timer("eb", "t", clock.ms))
    firer, sent, _ = _firer(clock, resend_interval=60.0)
    (firer.fire_due({0: a, 1: b}))
    assert len(sent) == 2
    (firer.fire_due({0: a}))  # partition 1 moved to another instance
    assert firer.pending_sent == 1
    (firer.fire_due({0: a, 1: b}))  # and came back: its timers go out again
    assert [t.execution_id for t, _ in sent] == ["ea", "eb", "eb"]
    firer.reset()
    (firer.fire_due({0: a, 1: b}))
    assert len(sent) == 3  # reset re-reads, but what was sent lately is not resent


def test_poll_passes_only_when_a_timer_is_due_or_a_new_one_may_be() -> None:
    clock = Clock()
    store = FakeStore()
    firer, sent, _ = _firer(clock, tick=5.0)
    store.add(Timer("e1", "t", clock.ms + 50))
    store.add(Timer("e2", "t", clock.ms + 120))
    firer.poll({0: store})  # the first pass plans the next look at the first due time
    assert sent == [] and firer.next_wake_ms == clock.ms + 50
    clock.advance(0.049)
    firer.poll({0: store})
    assert sent == []
    clock.advance(0.001)
    firer.poll({0: store})
    assert [t.execution_id for t, _ in sent] == ["e1"]
    # A timer due before the planned look wakes the firer on the next poll.
    key = store.add(Timer("e0", "t", clock.ms))
    firer.on_added(0, key)
    firer.poll({0: store})
    assert [t.execution_id for t, _ in sent] == ["e1", "e0"]
    clock.advance(0.07)
    firer.poll({0: store})
    assert [t.execution_id for t, _ in sent] == ["e1", "e0", "e2"]


def test_poll_survives_a_failing_send_and_retries_after_a_tick() -> None:
    clock = Clock()
    store = FakeStore()
    store.add(Timer("e1", "t", clock.ms))
    attempts: list[int] = []

    def send(timer: Timer, fired_at_ms: int) -> None:
        attempts.append(fired_at_ms)
        if len(attempts) == 1:
            raise RuntimeError("broker away")

    firer = Firer(send, tick=0.5, wall_ms=lambda: clock.ms, monotonic=lambda: clock.mono)
    firer.poll({0: store})
    assert len(attempts) == 1
    firer.poll({0: store})
    assert len(attempts) == 1  # not before the tick
    clock.advance(0.5)
    firer.poll({0: store})
    assert len(attempts) == 2
