"""The firing loop over in-memory ordered stores with a hand-driven clock."""

from __future__ import annotations

import asyncio
import bisect
import time

from processors.timers_firing import Firer
from processors.timers_state import Timer, due_key, encode_timer


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
    """An ordered byte store like a raw-mode rocksdict, with Faust's offset key in it."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {b"__faust\x00offset__": b"42"}

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

    async def send(timer: Timer, fired_at_ms: int) -> None:
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
    next_ms = asyncio.run(firer.fire_due({0: store}))
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
    asyncio.run(firer.fire_due({0: store}))
    clock.advance(4.9)
    asyncio.run(firer.fire_due({0: store}))
    assert len(sent) == 1
    clock.advance(0.2)
    asyncio.run(firer.fire_due({0: store}))
    assert len(sent) == 2 and firer.resent_total == 1


def test_a_confirmed_timer_is_never_resent() -> None:
    clock = Clock()
    store = FakeStore()
    key = store.add(Timer("e1", "t1", clock.ms))
    firer, sent, _ = _firer(clock, resend_interval=1.0)
    asyncio.run(firer.fire_due({0: store}))
    del store.data[key]  # the stream saw the history's TimerFired
    firer.on_removed(0, key)
    clock.advance(10)
    asyncio.run(firer.fire_due({0: store}))
    assert len(sent) == 1 and firer.pending_sent == 0


def test_a_timer_added_before_the_start_key_is_still_fired() -> None:
    clock = Clock()
    store = FakeStore()
    store.add(Timer("e1", "t1", clock.ms - 5))
    firer, sent, _ = _firer(clock)
    asyncio.run(firer.fire_due({0: store}))
    # A timer that was already due when it arrived sorts before everything read so far.
    overdue = Timer("e0", "t9", clock.ms - 1_000)
    firer.on_added(0, store.add(overdue))
    asyncio.run(firer.fire_due({0: store}))
    assert [t for t, _ in sent][-1] == overdue and len(sent) == 2


def test_an_earlier_timer_wakes_the_loop() -> None:
    clock = Clock()
    firer, _, _ = _firer(clock)
    firer.next_wake_ms = clock.ms + 1_000
    firer.on_added(0, due_key(Timer("e", "t", clock.ms + 2_000)))
    assert not firer.wake.is_set()
    firer.on_added(0, due_key(Timer("e", "t", clock.ms + 500)))
    assert firer.wake.is_set()


def test_batch_limit_cuts_a_pass_short_and_the_next_pass_continues() -> None:
    clock = Clock()
    store = FakeStore()
    for i in range(5):
        store.add(Timer(f"e{i}", "t", clock.ms - 100 + i))
    firer, sent, _ = _firer(clock, max_batch=2)
    assert asyncio.run(firer.fire_due({0: store})) == clock.ms  # come back at once
    assert len(sent) == 2
    asyncio.run(firer.fire_due({0: store}))
    asyncio.run(firer.fire_due({0: store}))
    assert sorted(t.execution_id for t, _ in sent) == [f"e{i}" for i in range(5)]


def test_revoked_partitions_are_forgotten_and_reset_rereads_from_the_start() -> None:
    clock = Clock()
    a, b = FakeStore(), FakeStore()
    a.add(Timer("ea", "t", clock.ms))
    b.add(Timer("eb", "t", clock.ms))
    firer, sent, _ = _firer(clock, resend_interval=60.0)
    asyncio.run(firer.fire_due({0: a, 1: b}))
    assert len(sent) == 2
    asyncio.run(firer.fire_due({0: a}))  # partition 1 moved to another instance
    assert firer.pending_sent == 1
    asyncio.run(firer.fire_due({0: a, 1: b}))  # and came back: its timers go out again
    assert [t.execution_id for t, _ in sent] == ["ea", "eb", "eb"]
    firer.reset()
    asyncio.run(firer.fire_due({0: a, 1: b}))
    assert len(sent) == 3  # reset re-reads, but what was sent lately is not resent


def test_run_sleeps_until_the_next_due_timer_and_stops() -> None:
    async def scenario() -> list[Timer]:
        store = FakeStore()
        sent: list[Timer] = []
        done = asyncio.Event()

        async def send(timer: Timer, fired_at_ms: int) -> None:
            assert fired_at_ms >= timer.fire_at_ms
            sent.append(timer)
            if len(sent) == 2:
                done.set()

        firer = Firer(send)
        now = time.time_ns() // 1_000_000
        store.add(Timer("e1", "t", now + 50))
        store.add(Timer("e2", "t", now + 120))
        task = asyncio.create_task(firer.run(lambda: {0: store}, tick=5.0, stopped=done.is_set))
        await asyncio.wait_for(done.wait(), 3.0)
        firer.wake.set()
        await asyncio.wait_for(task, 3.0)
        return sent

    assert [t.execution_id for t in asyncio.run(scenario())] == ["e1", "e2"]


def test_run_survives_a_failing_send_and_retries() -> None:
    async def scenario() -> int:
        store = FakeStore()
        store.add(Timer("e1", "t", 0))
        attempts = 0
        done = asyncio.Event()

        async def send(timer: Timer, fired_at_ms: int) -> None:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                raise RuntimeError("broker away")
            done.set()

        firer = Firer(send)
        task = asyncio.create_task(firer.run(lambda: {0: store}, tick=0.05, stopped=done.is_set))
        await asyncio.wait_for(done.wait(), 3.0)
        await asyncio.wait_for(task, 3.0)
        return attempts

    assert asyncio.run(scenario()) == 2
