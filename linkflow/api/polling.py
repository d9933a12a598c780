"""Polling Postgres for change: quick right after something happened, slower while idle.

The visibility sink writes in batches and sends no notifications, so the API polls; the
backoff keeps an idle watcher at a couple of cheap primary-key lookups per second.
"""

from __future__ import annotations

import asyncio
import contextlib


class Backoff:
    def __init__(self, minimum: float, maximum: float, stop: asyncio.Event) -> None:
        self._minimum = minimum
        self._maximum = maximum
        self._interval = minimum
        self._stop = stop

    def reset(self) -> None:
        self._interval = self._minimum

    async def sleep(self, limit: float | None = None) -> bool:
        """Wait one interval (at most `limit` seconds); False when the service is stopping."""
        interval = self._interval if limit is None else max(0.0, min(self._interval, limit))
        self._interval = min(self._interval * 2, self._maximum)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), interval)
        return not self._stop.is_set()
