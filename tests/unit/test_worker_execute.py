"""Running one handler: outcomes, error classification, the start-to-close safety net,
sync handlers off the loop, heartbeats, resources, and the result messages."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from linkflow.codec import decode_result
from linkflow.worker import (
    ActivityContext,
    ActivityError,
    ActivityTask,
    HandlerRegistry,
    Resources,
    classify,
    execute,
)
from linkflow.worker import messages as msgs
from linkflow.worker.execute import heartbeat_interval, heartbeat_loop


def _ctx(**overrides: Any) -> ActivityContext:
    values: dict[str, Any] = {
        "execution_id": "e1",
        "activity_id": "a1",
        "attempt": 1,
        "node_id": "n1",
        "node_type": "t",
    }
    values.update(overrides)
    return ActivityContext(**values)


def _registry() -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.activity("add")
    async def add(ctx: ActivityContext, config: Any) -> int:
        return int(config["a"]) + int(config["b"])

    @registry.activity("thread")
    def thread(ctx: ActivityContext, config: Any) -> str:
        return threading.current_thread().name

    @registry.activity("boom")
    async def boom(ctx: ActivityContext, config: Any) -> None:
        raise KeyError("missing")

    @registry.activity("refuse")
    def refuse(ctx: ActivityContext, config: Any) -> None:
        raise ActivityError("Declined", "no thanks", retryable=False, details={"why": 1})

    @registry.activity("hang")
    async def hang(ctx: ActivityContext, config: Any) -> None:
        await asyncio.sleep(3600)

    @registry.activity("own_timeout")
    async def own_timeout(ctx: ActivityContext, config: Any) -> None:
        async with asyncio.timeout(0):
            await asyncio.sleep(1)

    @registry.activity("exit")
    def exits(ctx: ActivityContext, config: Any) -> None:
        raise SystemExit(3)

    return registry


async def test_async_handler_result() -> None:
    outcome = await execute(_registry().get("add"), _ctx(), {"a": 2, "b": 3})
    assert outcome.ok and outcome.result == 5 and outcome.label == "completed"


async def test_sync_handlers_run_in_the_given_executor_not_on_the_loop() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="lf-test") as pool:
        outcome = await execute(_registry().get("thread"), _ctx(), None, executor=pool)
    assert outcome.result.startswith("lf-test")


async def test_any_exception_is_a_retryable_failure_named_by_its_type() -> None:
    outcome = await execute(_registry().get("boom"), _ctx(), None)
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("KeyError", True)
    assert "missing" in outcome.error.message
    assert outcome.label == "failed"


async def test_activity_error_says_type_retryability_and_details() -> None:
    outcome = await execute(_registry().get("refuse"), _ctx(), None)
    assert outcome.error is not None
    assert outcome.error.type == "Declined"
    assert outcome.error.message == "no thanks"
    assert outcome.error.retryable is False
    assert outcome.error.details == {"why": 1}


async def test_unknown_node_type_fails_for_good_naming_it() -> None:
    outcome = await execute(None, _ctx(node_type="mystery"), None, known=lambda: ["a", "b"])
    assert outcome.error is not None
    assert outcome.error.type == "UnknownNodeType"
    assert outcome.error.retryable is False
    assert "mystery" in outcome.error.message
    assert outcome.error.details == {"node_type": "mystery", "known": ["a", "b"]}


async def test_start_to_close_cancels_the_handler_and_reports_a_timeout() -> None:
    began = time.monotonic()
    outcome = await execute(_registry().get("hang"), _ctx(), None, timeout_ms=50)
    assert time.monotonic() - began < 30  # cancelled, not waited out
    assert outcome.timed_out and outcome.label == "timed_out"
    assert outcome.error is not None
    assert outcome.error.type == "ActivityTimeout"
    assert outcome.error.retryable is True
    assert outcome.error.details == {"timeout_type": "start_to_close", "timeout_ms": 50}


async def test_a_handlers_own_timeout_is_not_mistaken_for_start_to_close() -> None:
    outcome = await execute(_registry().get("own_timeout"), _ctx(), None, timeout_ms=60_000)
    assert outcome.error is not None and not outcome.timed_out
    assert outcome.error.type == "TimeoutError"


async def test_a_handler_calling_sys_exit_fails_the_activity_not_the_worker() -> None:
    outcome = await execute(_registry().get("exit"), _ctx(), None)
    assert outcome.error is not None and outcome.error.type == "SystemExit"


def test_classify_keeps_the_exception_type_and_falls_back_to_it_as_message() -> None:
    info = classify(ValueError())
    assert (info.type, info.message, info.retryable) == ("ValueError", "ValueError", True)


async def test_heartbeat_loop_sends_the_latest_details() -> None:
    ctx = _ctx()
    sent: list[Any] = []
    got_two = asyncio.Event()

    def send(details: Any) -> None:
        sent.append(details)
        ctx.heartbeat({"n": len(sent)})
        if len(sent) >= 2:
            got_two.set()

    beat = asyncio.create_task(heartbeat_loop(ctx, 0.01, send))
    await asyncio.wait_for(got_two.wait(), 10)
    beat.cancel()
    assert sent[:2] == [None, {"n": 1}]
    assert ctx.heartbeat_count >= 2


def test_heartbeats_go_out_several_times_per_heartbeat_timeout() -> None:
    assert heartbeat_interval(3000) == pytest.approx(1.0)
    assert heartbeat_interval(1) > 0


def test_time_left_follows_the_deadline() -> None:
    assert _ctx().time_left() is None
    left = _ctx(deadline=time.monotonic() + 100).time_left()
    assert left is not None and 0 < left <= 100


async def test_resources_are_built_once_and_closed_newest_first() -> None:
    closed: list[str] = []

    class Thing:
        def __init__(self, name: str) -> None:
            self.name = name

        async def aclose(self) -> None:
            closed.append(self.name)

    builds = 0

    async def make_a() -> Thing:
        nonlocal builds
        builds += 1
        await asyncio.sleep(0)
        return Thing("a")

    resources = Resources()
    first, second = await asyncio.gather(resources.get("a", make_a), resources.get("a", make_a))
    assert first is second and builds == 1
    await resources.get("b", lambda: Thing("b"))
    await resources.get("c", lambda: "plain", close=lambda value: closed.append(value))
    await resources.aclose()
    assert closed == ["plain", "b", "a"]


def _task() -> ActivityTask:
    return ActivityTask(
        execution_id="e1",
        activity_id="a1",
        attempt=2,
        node_id="n1",
        node_type="echo",
        input={},
        workflow_id="w",
        workflow_version=1,
    )


def test_result_messages_carry_the_task_identity_back() -> None:
    task = _task()
    started = decode_result(msgs.started(task, "me", 1))
    assert started["input_type"] == "ActivityStarted"
    assert (started["execution_id"], started["activity_id"], started["attempt"]) == ("e1", "a1", 2)
    done = decode_result(msgs.completed(task, {"x": [1]}, "me", 2))
    assert done["input_type"] == "ActivityCompleted" and done["result"] == {"x": [1]}


def test_a_failure_with_unencodable_details_is_still_reported() -> None:
    info = classify(ActivityError("Odd", "odd details", details={"when": object()}))
    failed = decode_result(msgs.failed(_task(), info, "me", 3))
    assert failed["error"]["type"] == "Odd"
    assert failed["error"]["node_id"] == "n1"
    assert "repr" in failed["error"]["details"]


def test_heartbeat_with_unencodable_details_still_beats() -> None:
    beat = decode_result(msgs.heartbeat(_task(), {1, 2}, "me", 4))
    assert beat["input_type"] == "ActivityHeartbeat" and beat["details"] is None


def test_task_messages_round_trip_through_the_codec() -> None:
    from linkflow.codec import decode_task, encode_task

    task = _task()
    assert ActivityTask.from_message(decode_task(encode_task(task.to_message()))) == task
