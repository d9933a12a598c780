"""Workspace quotas in the history processor: the engine's `Admission`.

Running executions are counted per workspace and per input partition, in the partition's
store under `RUNNING_KEY`, written to the changelog in the same transaction as the states
that changed them, so the counts are exactly as durable as the executions. A store from
before the counts existed is counted once, by reading its states.

An instance owns some of the partitions; it enforces its share of each workspace's quota
(owned partitions / all partitions): exact with one instance, and close with several, as
execution ids spread evenly over partitions (docs/workspaces.md).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable

from linkflow.engine import Error
from linkflow.quotas import Quotas
from linkflow.worker.rate_limit import TokenBucket
from processors.history_records import StoredExecution
from processors.state_store import PartitionStores

# Keys of our own start with NUL (execution ids never do).
RUNNING_KEY = b"\x00running"


class WorkspaceAdmission:
    def __init__(
        self, quotas: Quotas, partitions: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.quotas = quotas
        self.partitions = partitions
        self._clock = clock
        self._committed: dict[int, Counter[str]] = {}
        self._pending: dict[int, Counter[str]] = {}
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def enabled(self) -> bool:
        return self.quotas.limits_starts

    # -- counts -------------------------------------------------------------------------

    def assigned(self, partitions: Iterable[int], stores: PartitionStores) -> None:
        self._committed = {p: _read_counts(stores, p) for p in partitions}
        self._pending = {}

    def revoked(self) -> None:
        self._committed = {}
        self._pending = {}

    def changed(self, partition: int, workspace: str, delta: int) -> None:
        """An execution of `workspace` on `partition` started (+1) or closed (-1) in the
        batch being decided."""
        self._pending.setdefault(partition, Counter())[workspace] += delta

    def batch_values(self) -> dict[int, bytes]:
        """The new count record of each partition the batch changed."""
        out = {}
        for partition, delta in self._pending.items():
            counts = self._committed.get(partition, Counter()).copy()
            counts.update(delta)
            out[partition] = _encode({w: n for w, n in counts.items() if n > 0})
        return out

    def committed(self) -> None:
        for partition, delta in self._pending.items():
            counts = self._committed.setdefault(partition, Counter())
            counts.update(delta)
            for workspace in [w for w, n in counts.items() if n <= 0]:
                del counts[workspace]
        self._pending = {}

    def aborted(self) -> None:
        self._pending = {}

    def running(self, workspace: str) -> int:
        total = sum(counts.get(workspace, 0) for counts in self._committed.values())
        return total + sum(delta.get(workspace, 0) for delta in self._pending.values())

    # -- the engine's question ----------------------------------------------------------

    def admit(self, workspace: str, workflow_id: str) -> Error | None:
        quota = self.quotas.of(workspace)
        share = len(self._committed) / self.partitions if self.partitions else 1.0
        if quota.max_running is not None:
            limit = math.ceil(quota.max_running * share)
            running = self.running(workspace)
            if running >= limit:
                return _exceeded(
                    workspace,
                    "max_running",
                    quota.max_running,
                    f"it has {running} running execution(s) on this processor's partitions, "
                    f"its share of max_running {quota.max_running} is {limit}",
                )
        if quota.starts_per_second is not None:
            rate = quota.starts_per_second * share
            if not self._take(workspace, rate):
                return _exceeded(
                    workspace,
                    "starts_per_second",
                    quota.starts_per_second,
                    f"it started more than starts_per_second {quota.starts_per_second:g} allows",
                )
        return None

    def _take(self, workspace: str, rate: float) -> bool:
        """A token of the workspace's bucket (a burst of one second's worth, at least one);
        a new share of the partitions starts a new bucket."""
        if rate <= 0:
            return False
        bucket = self._buckets.get(workspace)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[workspace] = TokenBucket(rate, clock=self._clock)
        return bucket.try_take()


def _exceeded(workspace: str, limit: str, value: float, why: str) -> Error:
    return Error(
        type="QuotaExceeded",
        message=f"start refused: workspace {workspace!r} is over its quota: {why}",
        retryable=True,
        details={"workspace": workspace, "limit": limit, "quota": value},
    )


def _encode(counts: dict[str, int]) -> bytes:
    return json.dumps(counts, sort_keys=True, separators=(",", ":")).encode()


def _read_counts(stores: PartitionStores, partition: int) -> Counter[str]:
    store = stores.get(partition)
    raw = store.get(RUNNING_KEY)
    if raw is not None:
        return Counter({str(w): int(n) for w, n in json.loads(raw).items()})
    # A store written before the counts existed: count its running executions once.
    counts: Counter[str] = Counter()
    it = store.iter()
    it.seek(b"\x01")  # past our own NUL keys
    while it.valid():
        state = StoredExecution.from_bytes(it.value(), None).state
        if state.is_open:
            counts[state.workspace] += 1
        it.next()
    return counts
