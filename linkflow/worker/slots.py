"""The worker's activity slots, with priorities: a freed slot goes to a waiting
high-priority task first, except that after `weight` high ones in a row a waiting normal
task gets it, so normal tasks keep a share (1 in weight+1) however many high ones come."""

from __future__ import annotations

import asyncio
from collections import deque

# High-priority tasks started per normal one while both wait.
HIGH_WEIGHT = 4


class PrioritySlots:
    def __init__(self, size: int, weight: int = HIGH_WEIGHT) -> None:
        self._free = size
        self.weight = weight
        self._waiting: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}
        self._high_run = 0  # high-priority grants since the last normal one

    async def acquire(self, high: bool = False) -> None:
        """Wait for a slot. Cancelled while waiting, it holds none."""
        if self._free > 0 and not self._queued():
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[high].append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted just as it was cancelled: pass the slot on
            else:
                self._waiting[high].remove(future)
            raise

    def release(self) -> None:
        following = self._next()
        if following is None:
            self._free += 1
        else:
            following.set_result(None)  # the slot goes straight to it

    @property
    def waiting(self) -> int:
        """Tasks waiting for a slot now."""
        return sum(1 for q in self._waiting.values() for f in q if not f.done())

    def _queued(self) -> bool:
        return self.waiting > 0

    def _next(self) -> asyncio.Future[None] | None:
        for queue in self._waiting.values():
            while queue and queue[0].done():
                queue.popleft()  # cancelled while waiting
        high, normal = self._waiting[True], self._waiting[False]
        if high and (not normal or self._high_run < self.weight):
            self._high_run += 1
            return high.popleft()
        if normal:
            self._high_run = 0
            return normal.popleft()
        return None
