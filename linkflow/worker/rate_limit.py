"""A token bucket: how many activity attempts a worker process starts per second
(`linkflow worker --rate-limit N`). An attempt waits for a token after it has a slot and
before it starts; its task stays uncommitted meanwhile, so a stop or a crash loses nothing.
A queue's rate is the sum of its workers' limits: give each worker its share.

`WorkspaceRates` applies the workspaces' `activities_per_second` quotas (LINKFLOW_QUOTAS_FILE)
with a bucket per workspace, taken before the task has a slot (a workspace over its rate
holds none of the slots other workspaces' tasks could use); a worker applies the part of a
workspace's rate that its share of the queue's partitions is, so the queue's workers
together keep to it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from linkflow.metrics import WORKER_RATE_LIMITED_SECONDS
from linkflow.quotas import Quotas


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"the rate must be positive, not {rate}")
        self.rate = rate
        self.capacity = max(1.0, rate)  # a burst of up to one second's worth
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def try_take(self) -> bool:
        """Take one token if there is one, without waiting."""
        self._refill()
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def acquire(self) -> float:
        """Take one token, waiting for it if none is left; the seconds waited."""
        waited = 0.0
        self._refill()
        while self._tokens < 1:
            pause = (1 - self._tokens) / self.rate
            await self._sleep(pause)  # the limit is the point: waiting is the mechanism
            waited += pause
            self._refill()
        self._tokens -= 1
        if waited:
            WORKER_RATE_LIMITED_SECONDS.inc(waited)
        return waited


class WorkspaceRates:
    def __init__(
        self,
        quotas: Quotas,
        share: Callable[[], float],
        bucket: Callable[[float], TokenBucket] = TokenBucket,
    ) -> None:
        self.quotas = quotas
        self._share = share
        self._bucket = bucket
        self._buckets: dict[str, TokenBucket] = {}

    async def acquire(self, workspace: str) -> float:
        """Take one of the workspace's tokens (none needed without a rate); seconds waited."""
        rate = self.quotas.of(workspace).activities_per_second
        if rate is None:
            return 0.0
        mine = rate * max(self._share(), 1e-6)
        bucket = self._buckets.get(workspace)
        if bucket is None or bucket.rate != mine:  # a new share after a rebalance
            bucket = self._buckets[workspace] = self._bucket(mine)
        return await bucket.acquire()
