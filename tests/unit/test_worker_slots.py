"""Priority slots: high-priority tasks first, normal ones keep a weighted share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from linkflow.worker.slots import PrioritySlots


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until `condition` holds (within a second)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), 1)


async def _order(slots: PrioritySlots, waiting: list[bool]) -> list[str]:
    started: list[str] = []

    async def task(name: str, high: bool) -> None:
        await slots.acquire(high)
        started.append(name)

    tasks = [asyncio.create_task(task(f"{'h' if h else 'n'}{i}", h)) for i, h in enumerate(waiting)]
    await until(lambda: slots.waiting == len(waiting))
    for n in range(1, len(waiting) + 1):
        slots.release()
        await until(lambda n=n: len(started) == n)
    await asyncio.gather(*tasks)
    return started


async def test_high_first_with_a_share_for_normal_tasks() -> None:
    slots = PrioritySlots(1, weight=2)
    await slots.acquire()  # the one slot is busy: everything below waits
    waiting = [False, False, True, True, True, True, True]
    order = await _order(slots, waiting)
    assert order == ["h2", "h3", "n0", "h4", "h5", "n1", "h6"]


async def test_a_free_slot_is_taken_at_once_and_a_cancelled_waiter_holds_none() -> None:
    slots = PrioritySlots(2)
    await slots.acquire()
    await slots.acquire(True)
    waiter = asyncio.create_task(slots.acquire(True))
    await until(lambda: slots.waiting == 1)
    waiter.cancel()
    await until(waiter.done)
    assert waiter.cancelled() and slots.waiting == 0
    slots.release()  # nobody waits: the slot is free again
    await asyncio.wait_for(slots.acquire(), 1)


async def test_only_normal_tasks_take_turns_in_order() -> None:
    slots = PrioritySlots(1)
    await slots.acquire()
    assert await _order(slots, [False, False, False]) == ["n0", "n1", "n2"]
