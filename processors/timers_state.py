"""Pending timers as key-value pairs in one ordered store per partition, changed only by
history events.

- due keys:   b"<fire_at_ms, 15 digits>\\0<execution_id>\\0<timer_id>" -> JSON
  [execution_id, timer_id, fire_at_ms]. Byte order is due order, so the firer reads a
  partition from its first due key and stops at the first one not yet due.
- index keys: b"\\1<execution_id>\\0<timer_id>" -> the timer's due key. TimerFired and
  TimerCanceled carry only the timer id, and a terminal event must find every timer of its
  execution: a prefix scan over `\\1<execution_id>\\0` does that without a per-execution
  list to rewrite. The \\1 keeps index keys out of the due keys' range (digits).

NUL separates the parts so that no pair of ids can produce another pair's key. Every change
is idempotent, because after a crash Kafka hands the same history events over again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from linkflow.engine import TERMINAL_EVENT_TYPES

TIMER_STARTED = "TimerStarted"
TIMER_FIRED = "TimerFired"
TIMER_CANCELED = "TimerCanceled"
TERMINAL_EVENTS = TERMINAL_EVENT_TYPES
RELEVANT_EVENTS = frozenset({TIMER_STARTED, TIMER_FIRED, TIMER_CANCELED}) | TERMINAL_EVENTS

SEP = b"\x00"
INDEX_MARK = b"\x01"
FIRST_DUE_KEY = b"0"  # sorts before every due key and after every index key
FIRE_AT_DIGITS = 15
_MAX_FIRE_AT = 10**FIRE_AT_DIGITS - 1


@dataclass(frozen=True, slots=True)
class Timer:
    execution_id: str
    timer_id: str
    fire_at_ms: int


def due_key(timer: Timer) -> bytes:
    fire_at = min(max(timer.fire_at_ms, 0), _MAX_FIRE_AT)
    return b"%015d" % fire_at + SEP + timer.execution_id.encode() + SEP + timer.timer_id.encode()


def index_prefix(execution_id: str) -> bytes:
    return INDEX_MARK + execution_id.encode() + SEP


def index_key(execution_id: str, timer_id: str) -> bytes:
    return index_prefix(execution_id) + timer_id.encode()


def is_due_key(key: bytes) -> bool:
    """False for index keys and the store's own keys."""
    return len(key) > FIRE_AT_DIGITS and key[FIRE_AT_DIGITS] == 0 and key[:1].isdigit()


def fire_at_of(key: bytes) -> int:
    return int(key[:FIRE_AT_DIGITS])


def encode_timer(timer: Timer) -> bytes:
    return json.dumps(
        [timer.execution_id, timer.timer_id, timer.fire_at_ms], separators=(",", ":")
    ).encode()


def decode_timer(value: bytes) -> Timer:
    execution_id, timer_id, fire_at_ms = json.loads(value)
    return Timer(execution_id, timer_id, int(fire_at_ms))


# A table is a mapping whose writes go to a changelog (a batch's view of a partition store,
# a dict in unit tests); due and index keys may share one. `prefix_keys(prefix)` lists the
# index keys that start with `prefix` in the partition being processed.
Table = MutableMapping[bytes, bytes]
PrefixScan = Callable[[bytes], Iterable[bytes]]


class TimerTables:
    """Applies history events to the `due` and `index` tables.

    The mutating methods return what changed so the firing loop can follow: `added` and
    `removed` due keys.
    """

    def __init__(self, due: Table, index: Table) -> None:
        self.due = due
        self.index = index

    def start(self, timer: Timer) -> tuple[bytes | None, bytes | None]:
        """Register `timer`; (added due key or None if already there, replaced due key)."""
        key = due_key(timer)
        ikey = index_key(timer.execution_id, timer.timer_id)
        previous = self.index.get(ikey)
        if previous == key:
            return None, None
        replaced = None
        if previous is not None:
            # The same timer id started again with another due time: the newer one counts.
            self._delete_due(previous)
            replaced = previous
        self.due[key] = encode_timer(timer)
        self.index[ikey] = key
        return key, replaced

    def remove(self, execution_id: str, timer_id: str) -> bytes | None:
        """Forget a fired or cancelled timer; its due key, or None if it was unknown."""
        ikey = index_key(execution_id, timer_id)
        key = self.index.get(ikey)
        if key is None:
            return None
        self._delete_due(key)
        del self.index[ikey]
        return key

    def remove_execution(self, prefix_keys: PrefixScan, execution_id: str) -> list[bytes]:
        """Forget every timer of an execution that ended; their due keys."""
        removed = []
        for ikey in list(prefix_keys(index_prefix(execution_id))):
            key = self.index.get(ikey)
            if key is None:
                continue
            self._delete_due(key)
            del self.index[ikey]
            removed.append(key)
        return removed

    def _delete_due(self, key: bytes) -> None:
        if self.due.get(key) is not None:
            del self.due[key]


def timer_from_event(event: dict[str, Any]) -> Timer:
    attributes = event["attributes"]
    return Timer(event["execution_id"], attributes["timer_id"], int(attributes["fire_at_ms"]))
