"""Which task offsets a worker may commit: per partition, only the completed prefix.

Tasks of one partition run concurrently and finish in any order. Kafka keeps one committed
offset per partition, meaning "everything before this is done", so the worker may commit
only up to its lowest unfinished offset: committing past it would lose that task if the
worker crashed before finishing it. Tasks finished beyond the gap are re-run after a crash
(at-least-once; the history processor ignores results for attempts no longer pending).

Pure bookkeeping, no Kafka and no locks: the worker serialises calls itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

TopicPartitionKey = tuple[str, int]


class PartitionOffsets:
    """The fetched offsets of one partition during one assignment of it.

    A revoked and later re-assigned partition gets a new instance, so a task fetched under
    the old assignment can never advance the new one's commit position.
    """

    __slots__ = ("_committed", "_next", "_open", "_order", "revoked")

    def __init__(self) -> None:
        self._order: deque[int] = deque()  # unfinished offsets plus finished ones behind them
        self._open: set[int] = set()  # unfinished offsets
        self._next: int | None = None  # one past the highest offset added
        self._committed: int | None = None
        self.revoked = False

    def add(self, offset: int) -> None:
        """Record a fetched offset; offsets arrive in increasing order, possibly with gaps
        (transaction markers and compaction take offsets too)."""
        if self._next is not None and offset < self._next:
            raise ValueError(f"offset {offset} added after {self._next - 1}: must increase")
        self._order.append(offset)
        self._open.add(offset)
        self._next = offset + 1

    def finish(self, offset: int) -> None:
        """Mark a fetched offset done (its result is durably produced)."""
        try:
            self._open.remove(offset)
        except KeyError:
            raise KeyError(f"offset {offset} is not pending") from None
        order = self._order
        while order and order[0] not in self._open:
            order.popleft()

    @property
    def position(self) -> int | None:
        """The offset to commit: the lowest unfinished one, or one past the highest added when
        all are finished; None before anything was added."""
        return self._order[0] if self._order else self._next

    @property
    def pending(self) -> int:
        return len(self._open)

    @property
    def committed(self) -> int | None:
        return self._committed

    def to_commit(self) -> int | None:
        """The position, if it moved past what was last committed."""
        position = self.position
        if position is None or (self._committed is not None and position <= self._committed):
            return None
        return position

    def mark_committed(self, offset: int) -> None:
        if self._committed is None or offset > self._committed:
            self._committed = offset


class OffsetTracker:
    """PartitionOffsets for every partition currently assigned."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartitionKey, PartitionOffsets] = {}

    def assign(self, partitions: Iterable[TopicPartitionKey]) -> None:
        for tp in partitions:
            self._partitions.setdefault(tp, PartitionOffsets())

    def revoke(self, partitions: Iterable[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        """Forget the partitions; returns the positions still worth committing for them, which
        the caller commits before giving them up (in-flight work stays uncommitted)."""
        final: dict[TopicPartitionKey, int] = {}
        for tp in partitions:
            offsets = self._partitions.pop(tp, None)
            if offsets is None:
                continue
            offsets.revoked = True
            position = offsets.to_commit()
            if position is not None:
                final[tp] = position
        return final

    def track(self, tp: TopicPartitionKey, offset: int) -> PartitionOffsets | None:
        """Record a fetched offset; the returned instance is where to `finish` it.

        None for a partition not assigned: its message must be ignored, since committing a
        partition another member owns would overwrite that member's progress.
        """
        offsets = self._partitions.get(tp)
        if offsets is None:
            return None
        offsets.add(offset)
        return offsets

    def is_assigned(self, tp: TopicPartitionKey) -> bool:
        return tp in self._partitions

    def to_commit(self) -> list[tuple[TopicPartitionKey, PartitionOffsets, int]]:
        """(partition, its offsets, position) for every partition whose position moved."""
        result = []
        for tp, offsets in self._partitions.items():
            position = offsets.to_commit()
            if position is not None:
                result.append((tp, offsets, position))
        return result

    def assigned(self) -> list[TopicPartitionKey]:
        return list(self._partitions)

    def pending(self) -> int:
        return sum(offsets.pending for offsets in self._partitions.values())
