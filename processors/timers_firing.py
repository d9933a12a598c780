"""Finds due timers in the partition stores and sends each one's TimerFired.

The firer only reads the stores: a timer leaves the store when the history processor's
TimerFired (or TimerCanceled) history event comes back through the stream. Until then it is
remembered as sent and sent again every `resend_interval` seconds; duplicates are harmless
(the engine ignores a timer already fired). After a restart nothing is remembered, so every
due timer is sent again: that is the recovery.

Per partition the loop keeps a start key: every key before it was sent at least once by this
process, so a pass reads only timers that became due since the last one. A timer inserted
before the start key (already due when it arrived) moves the start key back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from processors.timers_state import FIRST_DUE_KEY, Timer, decode_timer, fire_at_of, is_due_key

log = logging.getLogger(__name__)

DEFAULT_TICK = 1.0
DEFAULT_RESEND_INTERVAL = 5.0
# Timers sent per pass before the loop lets the stream run again.
DEFAULT_MAX_BATCH = 2000


class OrderedStore(Protocol):
    """What the loop needs of a partition's RocksDB (a rocksdict Rdict in raw mode)."""

    def get(self, key: bytes) -> bytes | None: ...

    def iter(self) -> OrderedIterator: ...


class OrderedIterator(Protocol):
    def seek(self, key: bytes) -> None: ...

    def valid(self) -> bool: ...

    def key(self) -> bytes: ...

    def value(self) -> bytes: ...

    def next(self) -> None: ...


SendFired = Callable[[Timer, int], None]


@dataclass
class _Partition:
    # Every due key before `start` has been sent at least once.
    start: bytes = FIRST_DUE_KEY
    # Due key -> monotonic time of the last send; insertion order is send order.
    sent: dict[bytes, float] = field(default_factory=dict)


def _decode(key: bytes, value: bytes) -> Timer | None:
    try:
        return decode_timer(value)
    except (ValueError, TypeError):
        # Only a foreign write to the changelog can do this; skipping beats a loop that
        # fails on the same key forever.
        log.error("skipping unreadable timer %r: %r", key, value[:200])
        return None


def _items_from(store: OrderedStore, start: bytes) -> Iterator[tuple[bytes, bytes]]:
    it = store.iter()
    it.seek(start)
    while it.valid():
        yield it.key(), it.value()
        it.next()


class Firer:
    """The firing state and one pass over the stores (`fire_due`); `poll` makes a pass
    when one is due.

    `send(timer, fired_at_ms)` produces a TimerFired; `observe_lateness(seconds)` records
    how late the first send of a timer was.
    """

    def __init__(
        self,
        send: SendFired,
        *,
        resend_interval: float = DEFAULT_RESEND_INTERVAL,
        max_batch: int = DEFAULT_MAX_BATCH,
        tick: float = DEFAULT_TICK,
        observe_lateness: Callable[[float], None] = lambda _s: None,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self.resend_interval = resend_interval
        self.max_batch = max_batch
        self._observe_lateness = observe_lateness
        self._wall_ms = wall_ms
        self._monotonic = monotonic
        self.tick = tick
        self._partitions: dict[int, _Partition] = {}
        # When to look next (epoch ms); a new timer due earlier, or a reset, sets `woken`.
        self.next_wake_ms: float = 0.0
        self.woken = True
        self.sent_total = 0
        self.resent_total = 0

    # -- called as history changes the stores ------------------------------------------

    def on_added(self, partition: int, key: bytes) -> None:
        state = self._partitions.get(partition)
        if state is not None and key < state.start:
            state.start = key
        if fire_at_of(key) < self.next_wake_ms:
            self.woken = True

    def on_removed(self, partition: int, key: bytes) -> None:
        state = self._partitions.get(partition)
        if state is not None:
            state.sent.pop(key, None)

    def reset(self) -> None:
        """Read every partition from its first key on the next pass (after a rebalance the
        stores may hold timers this process never saw arrive). Sent times are kept so a
        rebalance does not resend everything at once."""
        for state in self._partitions.values():
            state.start = FIRST_DUE_KEY
        self.woken = True

    @property
    def pending_sent(self) -> int:
        return sum(len(state.sent) for state in self._partitions.values())

    # -- the loop's pass ---------------------------------------------------------------

    def poll(self, stores: Mapping[int, OrderedStore]) -> None:
        """Make a pass if one is due (see `fire_due`). A failing send (broker away) is
        logged; the unsent timers are still in the stores and are read again next time."""
        now_ms = self._wall_ms()
        if not self.woken and now_ms < self.next_wake_ms:
            return
        self.woken = False
        try:
            next_ms = self.fire_due(stores)
        except Exception:
            log.exception("firing due timers failed; retrying in %.1fs", self.tick)
            self.reset()
            self.woken = False
            next_ms = now_ms + self.tick * 1000.0
        self.next_wake_ms = min(next_ms, now_ms + self.tick * 1000.0)

    def fire_due(self, stores: Mapping[int, OrderedStore]) -> float:
        """Send every due timer not sent yet and resend the overdue unconfirmed ones.

        Returns when to look again (epoch ms): the earliest not-yet-due timer, the next
        resend, or now when the batch limit cut the pass short.
        """
        for partition in list(self._partitions):
            if partition not in stores:
                del self._partitions[partition]  # revoked: another instance fires them now
        now_ms = self._wall_ms()
        budget = self.max_batch
        next_ms = float("inf")
        for partition, store in stores.items():
            state = self._partitions.setdefault(partition, _Partition())
            budget, partition_next = self._fire_partition(state, store, now_ms, budget)
            next_ms = min(next_ms, partition_next)
            if budget <= 0:
                return now_ms
        budget, resend_next = self._resend(stores, budget)
        if budget <= 0:
            return now_ms
        return min(next_ms, resend_next)

    def _fire_partition(
        self, state: _Partition, store: OrderedStore, now_ms: int, budget: int
    ) -> tuple[int, float]:
        due: list[tuple[bytes, Timer]] = []
        next_ms = float("inf")
        start = state.start
        for key, value in _items_from(store, start):
            if not is_due_key(key):
                break  # past the due keys (the index keys sort after them)
            fire_at = fire_at_of(key)
            if fire_at > now_ms:
                next_ms = fire_at
                break
            start = key + b"\x00"  # the smallest key after this one
            if key in state.sent:
                continue
            timer = _decode(key, value)
            if timer is None:
                continue
            due.append((key, timer))
            if len(due) >= budget:
                break
        state.start = start
        for key, timer in due:
            fired_at_ms = self._wall_ms()
            self._send(timer, fired_at_ms)
            self._observe_lateness(max(0, fired_at_ms - timer.fire_at_ms) / 1000.0)
            state.sent[key] = self._monotonic()
        self.sent_total += len(due)
        if len(due) >= budget:
            return 0, now_ms
        return budget - len(due), next_ms

    def _resend(self, stores: Mapping[int, OrderedStore], budget: int) -> tuple[int, float]:
        now = self._monotonic()
        next_ms = float("inf")
        for partition, state in self._partitions.items():
            store = stores[partition]
            expired = []
            for key, sent_at in state.sent.items():
                if now - sent_at < self.resend_interval:
                    wait = self.resend_interval - (now - sent_at)
                    next_ms = min(next_ms, self._wall_ms() + wait * 1000.0)
                    break
                expired.append(key)
                if len(expired) >= budget:
                    break
            for key in expired:
                del state.sent[key]
                value = store.get(key)
                if value is None:
                    continue  # gone without the stream telling us (restored store)
                timer = _decode(key, value)
                if timer is None:
                    continue
                self._send(timer, self._wall_ms())
                state.sent[key] = self._monotonic()  # to the end: order stays send order
                self.resent_total += 1
            budget -= len(expired)
            if budget <= 0:
                return 0, next_ms
        return budget, next_ms
