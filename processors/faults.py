"""Fault injection for the crash tests: `crash_point(name)` marks a place where a test may
have the process kill itself.

With LINKFLOW_CRASH_AT=<name>:<n> in its environment, a process sends itself SIGKILL the
n-th time it passes `name` (no cleanup, no flush, as a power cut would). With also
LINKFLOW_CRASH_SIGNAL=SIGSTOP it freezes there instead, until someone sends SIGCONT: a
process stalled at an exact point (a zombie in the making). Unset, a crash point costs one
string comparison.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

log = logging.getLogger(__name__)

CRASH_ENV = "LINKFLOW_CRASH_AT"
SIGNAL_ENV = "LINKFLOW_CRASH_SIGNAL"
# Read once: the crash tests set them in the environment of the process they start.
_CRASH_POINT, _, _CRASH_NTH = os.environ.get(CRASH_ENV, "").rpartition(":")
_SIGNAL = signal.Signals[os.environ.get(SIGNAL_ENV, "SIGKILL")]
_crash_hits: dict[str, int] = {}


def crash_point(name: str, *, after_ms: float | None = None) -> None:
    """Kill this process here if LINKFLOW_CRASH_AT names `name` and its hit count is
    reached. With `after_ms` the kill comes from another thread that many milliseconds
    later, so it lands inside whatever the caller does next (a commit in flight)."""
    if name != _CRASH_POINT:
        return
    _crash_hits[name] = hits = _crash_hits.get(name, 0) + 1
    if hits != int(_CRASH_NTH or 1):
        # The n-th time only: a process frozen there (SIGSTOP) and woken goes on like any
        # other; firing again at every later pass froze it anew at its next batch.
        return
    log.warning("crash point %s reached (hit %d): %s", name, hits, _SIGNAL.name)
    if after_ms is None:
        os.kill(os.getpid(), _SIGNAL)
    else:
        timer = threading.Timer(after_ms / 1000, os.kill, (os.getpid(), _SIGNAL))
        timer.daemon = True
        timer.start()
