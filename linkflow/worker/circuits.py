"""Circuit breakers, one per integration: an http node's host (`host:port`), or the key its
`circuit` config names. After `failures` failed attempts within `window_s` seconds (a
connection error, a timeout, a retryable status: 5xx, 408, 429), the circuit opens: for
`open_s` seconds attempts fail at once with the retryable error CircuitOpen, so the node's
retry policy backs off instead of hammering a service that is down. Then one attempt goes
through as a probe (half-open): its success closes the circuit, its failure opens it again.

A worker that opens or closes a circuit publishes it on the compacted topic
`linkflow.circuits` (key: the integration, value: {"open_until_ms", "by"} or a tombstone),
which every worker follows, so the workers of every queue share one state. Failures are
counted per worker. The gauge `linkflow_circuit_open{circuit}` is 1 while open.

Settings (worker environment): LINKFLOW_CIRCUIT_FAILURES (5; 0 turns breakers off),
LINKFLOW_CIRCUIT_WINDOW_SECONDS (60), LINKFLOW_CIRCUIT_OPEN_SECONDS (30).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from linkflow.worker.errors import ActivityError
from linkflow.worker.metrics import CIRCUIT_OPEN as OPEN_GAUGE

log = logging.getLogger(__name__)

CIRCUIT_OPEN = "CircuitOpen"
ENV_FAILURES = "LINKFLOW_CIRCUIT_FAILURES"
ENV_WINDOW = "LINKFLOW_CIRCUIT_WINDOW_SECONDS"
ENV_OPEN = "LINKFLOW_CIRCUIT_OPEN_SECONDS"

Publish = Callable[[str, bytes | None], None]


@dataclass(frozen=True)
class CircuitPolicy:
    failures: int = 5
    window_s: float = 60.0
    open_s: float = 30.0

    @property
    def enabled(self) -> bool:
        return self.failures > 0

    @classmethod
    def from_environment(cls) -> CircuitPolicy:
        try:
            return cls(
                int(os.environ.get(ENV_FAILURES) or cls.failures),
                float(os.environ.get(ENV_WINDOW) or cls.window_s),
                float(os.environ.get(ENV_OPEN) or cls.open_s),
            )
        except ValueError as exc:
            raise ValueError(f"a LINKFLOW_CIRCUIT_* setting is not a number: {exc}") from None


class CircuitBreakers:
    def __init__(
        self, policy: CircuitPolicy | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.policy = policy or CircuitPolicy()
        self.publish: Publish | None = None  # set by a worker that shares its circuits
        self.identity = ""
        self.clock = clock
        self._lock = threading.Lock()  # the topic follower's thread applies records too
        self._failures: dict[str, deque[float]] = {}
        self._open_until: dict[str, float] = {}  # wall clock seconds
        self._probing: set[str] = set()

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self._open_until.clear()
            self._probing.clear()

    def check(self, key: str) -> None:
        """Before an attempt: CircuitOpen while the circuit is open, except for one probe."""
        if not self.policy.enabled:
            return
        with self._lock:
            until = self._open_until.get(key)
            if until is None:
                return
            now = self.clock()
            if now >= until and key not in self._probing:
                self._probing.add(key)  # half-open: this attempt is the probe
                return
        raise ActivityError(
            CIRCUIT_OPEN,
            f"the circuit of {key} is open"
            + (f" for {until - now:.0f} s more" if now < until else ", a probe is under way")
            + f" after {self.policy.failures} failures within {self.policy.window_s:g} s",
            retryable=True,
            details={"circuit": key, "open_until_ms": int(until * 1000)},
        )

    def abandoned(self, key: str) -> None:
        """The attempt ended with no verdict (cancelled): a probe may go again."""
        with self._lock:
            self._probing.discard(key)

    def succeeded(self, key: str) -> None:
        if not self.policy.enabled:
            return
        with self._lock:
            self._failures.pop(key, None)
            self._probing.discard(key)
            was_open = self._open_until.pop(key, None) is not None
        if was_open:
            OPEN_GAUGE.labels(key).set(0)
            log.info("circuit %s closed", key)
            self._share(key, None)

    def failed(self, key: str) -> None:
        if not self.policy.enabled:
            return
        now = self.clock()
        with self._lock:
            if key in self._probing:
                self._probing.discard(key)
                until = self._trip(key, now)
            else:
                recent = self._failures.setdefault(key, deque())
                recent.append(now)
                while recent and recent[0] < now - self.policy.window_s:
                    recent.popleft()
                if len(recent) < self.policy.failures or key in self._open_until:
                    return
                recent.clear()
                until = self._trip(key, now)
        log.warning("circuit %s open for %g s", key, self.policy.open_s)
        self._share(key, json.dumps({"open_until_ms": int(until * 1000), "by": self.identity}))

    def _trip(self, key: str, now: float) -> float:
        until = now + self.policy.open_s
        self._open_until[key] = until
        OPEN_GAUGE.labels(key).set(1)
        return until

    def _share(self, key: str, value: str | None) -> None:
        if self.publish is not None:
            self.publish(key, None if value is None else value.encode())

    def apply(self, key: str, value: bytes | None) -> None:
        """A record of `linkflow.circuits`: another worker (or this one) opened or closed it."""
        with self._lock:
            if value is None:
                if self._open_until.pop(key, None) is not None:
                    OPEN_GAUGE.labels(key).set(0)
                self._probing.discard(key)
                return
            until = int(json.loads(value)["open_until_ms"]) / 1000
            if until > self._open_until.get(key, 0.0):
                self._open_until[key] = until
                OPEN_GAUGE.labels(key).set(1)


CIRCUITS = CircuitBreakers()
