"""Which history partitions this sink owns and where it stands in each.

Kafka's group protocol decides ownership; PostgreSQL holds the offsets. A newly assigned
partition starts paused and `pending` until the sink has read its stored offset and seeked
there (the database may be down at assignment time, and a rebalance callback must not block
for long). Only records of `ready` partitions at or after their position are projected.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class PartitionState:
    partition: int
    ready: bool = False
    # Offset of the next record to project; records before it are stale fetches.
    position: int = 0
    # What sink_offsets holds for this partition as far as this sink knows (None: no row);
    # a write that finds anything else is fenced.
    stored: int | None = None


class Partitions:
    def __init__(self) -> None:
        self._owned: dict[int, PartitionState] = {}

    def assign(self, partitions: list[int]) -> None:
        for p in partitions:
            self._owned[p] = PartitionState(p)

    def revoke(self, partitions: list[int]) -> None:
        for p in partitions:
            self._owned.pop(p, None)

    # The copies make these safe to call from another thread (a test, a health check) while
    # rebalance callbacks change the dict.
    def owned(self) -> list[int]:
        return sorted(self._owned.copy())

    def pending(self) -> list[int]:
        return sorted(p for p, s in self._owned.copy().items() if not s.ready)

    def ready(self) -> list[int]:
        return sorted(p for p, s in self._owned.copy().items() if s.ready)

    def get(self, partition: int) -> PartitionState | None:
        return self._owned.get(partition)

    def start(self, partition: int, stored: int | None) -> None:
        """The partition's stored offset is known and the consumer is positioned there."""
        state = self._owned.get(partition)
        if state is not None:
            state.ready = True
            state.stored = stored
            state.position = stored if stored is not None else 0

    def reset(self, partition: int) -> None:
        """Forget the position: the stored offset must be read again (fenced, or reset)."""
        if partition in self._owned:
            self._owned[partition] = PartitionState(partition)

    def accepts(self, partition: int, offset: int) -> bool:
        state = self._owned.get(partition)
        return state is not None and state.ready and offset >= state.position

    def advance(self, partition: int, next_offset: int) -> None:
        """A batch up to `next_offset` is committed in PostgreSQL."""
        state = self._owned.get(partition)
        if state is not None:
            state.position = next_offset
            state.stored = next_offset
