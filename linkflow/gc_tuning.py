"""Garbage collector settings for the long-running processes (processors, worker, sink, API).

CPython runs a young-generation collection every 700 net container allocations. The history
processor allocates a few hundred objects per input (decoded records, events, state dicts)
while it keeps up to tens of thousands of execution states, and every collection also
walks the survivors of the last one: tests/bench/history_bench.py (10,000 executions)
spent 551-597 us per execution with the default thresholds and 451-489 us with these. Almost
nothing these processes allocate forms reference cycles (reference counting frees it), so
the collector can run far less often at the cost of a little memory between collections.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 20)


def tune_for_service() -> None:
    """Collect less often; call once at the start of a long-running command."""
    gc.set_threshold(*THRESHOLDS)
