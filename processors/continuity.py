"""Input continuity: the history processor's own record of how far it has processed each
input partition, and the check that every record after that point is processed, in order.

Why the processor does not trust Faust's committed offsets for this: faust-streaming 0.15.3
can, around a rebalance, deliver a record fetched before the rebalance ahead of the ones
before it and then drop those as already read, or commit past records nothing processed
(its gap filling, and `Consumer._new_offset` committing the first run of acknowledged
offsets wherever it starts). With two history processors sharing partitions, a
StartWorkflow or a result vanished that way now and then and its execution never moved
again. So the processor stores, in its table next to the states (same changelog partition,
same batch), the last offset it processed of each input partition, and:

- a record at or below that offset is a duplicate and is skipped;
- a record beyond the next expected offset means records were skipped: the batch's records
  of that partition are dropped and the consumer is sought back to the expected offset;
- a partition with records past the expected offset on the broker and nothing arriving is
  sought back too (`stalled`): a lost record with nothing after it raises no gap.

Offsets that hold no record (transaction markers of a transactional producer, compaction)
look like a gap that never fills: after `accept_gap_after` seconds of seeking to it the gap
is accepted and logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
TopicPartition = tuple[str, int]

OFFSETS_PREFIX = b"\x00offsets:"


def offsets_key(partition: int) -> bytes:
    return OFFSETS_PREFIX + str(partition).encode()


@dataclass
class Verdict(Generic[T]):
    keep: list[T] = field(default_factory=list)  # to process, in offset order per partition
    seek: dict[TopicPartition, int] = field(default_factory=dict)  # where to read again
    duplicates: int = 0


class Continuity:
    def __init__(self, accept_gap_after: float = 10.0, stall_after: float = 3.0) -> None:
        self.accept_gap_after = accept_gap_after
        self.stall_after = stall_after
        self._last: dict[TopicPartition, int] = {}  # last processed offset
        self._loaded: set[int] = set()  # partitions whose stored offsets were read
        self._gap_since: dict[TopicPartition, tuple[int, float]] = {}
        self._progress_at: dict[TopicPartition, float] = {}

    # -- the stored form --------------------------------------------------------------
    def loaded(self, partition: int) -> bool:
        return partition in self._loaded

    def load(self, partition: int, topics: Iterable[str], stored: bytes | None) -> None:
        """Take the stored offsets of `partition` (None: nothing processed yet, so every
        topic starts at offset 0)."""
        last = json.loads(stored) if stored else {}
        for topic in topics:
            self._last[(topic, partition)] = int(last.get(topic, -1))
        self._loaded.add(partition)

    def stored(self, partition: int) -> bytes:
        return json.dumps(
            {t: o for (t, p), o in sorted(self._last.items()) if p == partition}
        ).encode()

    def forget(self) -> None:
        """After a rebalance: another instance may have moved the partitions on."""
        self._last.clear()
        self._loaded.clear()
        self._gap_since.clear()
        self._progress_at.clear()

    # -- the checks -------------------------------------------------------------------
    def filter(
        self, records: Sequence[T], where: Callable[[T], tuple[str, int, int]], now: float
    ) -> Verdict[T]:
        """Which of `records` (of loaded partitions) to process, and where to seek back."""
        by_tp: dict[TopicPartition, list[tuple[int, T]]] = {}
        for record in records:
            topic, partition, offset = where(record)
            by_tp.setdefault((topic, partition), []).append((offset, record))
        verdict: Verdict[T] = Verdict()
        for tp, items in by_tp.items():
            items.sort(key=lambda item: item[0])
            expected = self._last[tp] + 1
            for offset, record in items:
                if offset < expected:
                    verdict.duplicates += 1
                    continue
                if offset > expected and not self._accept_gap(tp, expected, offset, now):
                    verdict.seek[tp] = expected
                    break
                verdict.keep.append(record)
                expected = offset + 1
            if expected - 1 != self._last[tp]:
                self._last[tp] = expected - 1
                self._progress_at[tp] = now
                self._gap_since.pop(tp, None)
        return verdict

    def _accept_gap(self, tp: TopicPartition, expected: int, offset: int, now: float) -> bool:
        since = self._gap_since.get(tp)
        if since is None or since[0] != expected:
            self._gap_since[tp] = (expected, now)
            log.warning(
                "%s[%d]: offset %d came before %d: reading again from %d",
                tp[0],
                tp[1],
                offset,
                expected,
                expected,
            )
            return False
        if now - since[1] < self.accept_gap_after:
            return False
        log.warning(
            "%s[%d]: offsets %d..%d never came in %.0f s of reading again: taken to hold no "
            "records (transaction markers or compaction)",
            tp[0],
            tp[1],
            expected,
            offset - 1,
            now - since[1],
        )
        return True

    def stalled(
        self, highwaters: dict[TopicPartition, int | None], now: float
    ) -> dict[TopicPartition, int]:
        """Partitions with records past the expected offset on the broker and none
        processed for `stall_after` seconds: where to read them again from."""
        seek = {}
        for tp, highwater in highwaters.items():
            if tp not in self._last or highwater is None:
                continue
            expected = self._last[tp] + 1
            if highwater <= expected:
                self._progress_at[tp] = now
                continue
            since = self._progress_at.setdefault(tp, now)
            if now - since >= self.stall_after:
                log.warning(
                    "%s[%d]: %d record(s) from offset %d on the broker and none processed "
                    "for %.0f s: reading them again",
                    tp[0],
                    tp[1],
                    highwater - expected,
                    expected,
                    now - since,
                )
                seek[tp] = expected
                self._progress_at[tp] = now
        return seek
