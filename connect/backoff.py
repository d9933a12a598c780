"""Exponential backoff with jitter for waiting out an unavailable database."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    initial: float = 0.2
    maximum: float = 15.0
    factor: float = 2.0
    attempts: int = 0

    def next_delay(self) -> float:
        """The delay before the next retry; grows with each call until `reset`."""
        base = min(self.maximum, self.initial * self.factor**self.attempts)
        self.attempts += 1
        # Half jitter: several sinks spread their retries, yet there is always a floor so a
        # database that is down is not hammered.
        return base / 2 + random.uniform(0, base / 2)

    def reset(self) -> None:
        self.attempts = 0
