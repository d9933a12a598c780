"""The worker's token bucket (linkflow/worker/rate_limit.py), on a clock the test moves."""

from __future__ import annotations

import pytest

from linkflow.quotas import QuotaConfigError, parse_quotas
from linkflow.worker.rate_limit import TokenBucket, WorkspaceRates


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_a_burst_of_one_second_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(4, clock=clock, sleep=clock.sleep)
    waits = [await bucket.acquire() for _ in range(8)]
    assert waits[:4] == [0, 0, 0, 0]  # the burst
    assert waits[4:] == pytest.approx([0.25] * 4)  # then one every 1/rate seconds
    assert clock.now == pytest.approx(1.0)
    clock.now += 10  # idle: the bucket refills, but only to its capacity
    assert [await bucket.acquire() for _ in range(5)] == pytest.approx([0, 0, 0, 0, 0.25])


async def test_slow_rates_wait_whole_intervals() -> None:
    clock = Clock()
    bucket = TokenBucket(0.5, clock=clock, sleep=clock.sleep)
    assert await bucket.acquire() == 0
    assert await bucket.acquire() == pytest.approx(2.0)


def test_the_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


async def test_workspace_rates_apply_the_workers_share_of_each_workspaces_quota() -> None:
    clock = Clock()
    share = [0.5]  # this worker owns half of the queue's partitions
    quotas = parse_quotas({"workspaces": {"acme": {"activities_per_second": 4}}})
    rates = WorkspaceRates(
        quotas, lambda: share[0], lambda rate: TokenBucket(rate, clock=clock, sleep=clock.sleep)
    )
    waits = [await rates.acquire("acme") for _ in range(4)]
    assert waits == pytest.approx([0, 0, 0.5, 0.5])  # 2 per second: a burst of 2, then 1/2 s
    assert [await rates.acquire("globex") for _ in range(100)] == [0] * 100  # no quota
    share[0] = 1.0  # a rebalance gave it every partition: the whole rate
    waits = [await rates.acquire("acme") for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0, 0.25, 0.25])


def test_an_activity_rate_of_zero_is_refused() -> None:
    with pytest.raises(QuotaConfigError, match="activities_per_second: must be above 0"):
        parse_quotas({"default": {"activities_per_second": 0}})
