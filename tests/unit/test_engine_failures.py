"""Retries, error-as-routing, non-retryable errors and every timeout kind."""

from __future__ import annotations

from typing import Any

import pytest

from linkflow.engine import ActivityCompleted
from linkflow.engine.backoff import jitter_fraction, retry_delay_ms
from linkflow.engine.effects import CancelActivityTask, effects_of
from linkflow.model import RetryPolicy
from linkflow.testing import (
    NO_REPLY,
    ActivityError,
    Delayed,
    WorkflowFailedError,
    WorkflowTestEnv,
    node,
    trigger,
    with_options,
    workflow,
)


class Flaky:
    """Fails `failures` times, then returns "ok"."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.error = error or ActivityError("Unavailable", "try later")

    def __call__(self, payload: dict[str, Any]) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


RETRY = {"max_attempts": 3, "initial_interval": "1s", "backoff_coefficient": 2, "jitter": 0}


def flaky_doc(
    retry: dict[str, Any] | None = RETRY, error_edge: bool = True, **options: Any
) -> dict[str, Any]:
    call = node("call", "http", url="http://x")
    if retry is not None:
        call = with_options(call, retry=retry)
    if options:
        call = with_options(call, **options)
    nodes = [trigger(), call]
    edges = ["start -> call"]
    if error_edge:
        nodes.append(node("recover", "transform", value="{{ nodes.call.error.type }}"))
        edges.append("call -error-> recover")
    return workflow("flaky", nodes, edges)


def test_retries_with_exponential_backoff_then_success() -> None:
    handler = Flaky(2)
    env = WorkflowTestEnv([flaky_doc()], handlers={"http": handler})
    run = env.start("flaky")
    assert run.result() == "ok"
    assert handler.calls == 3
    timers = [e for e in run.events("TimerStarted")]
    assert [t.attributes.purpose for t in timers] == ["retry_backoff", "retry_backoff"]
    delays = [t.attributes.fire_at_ms - t.timestamp_ms for t in timers]
    assert delays == [1000, 2000]
    assert [t.attributes.attempt for t in timers] == [2, 3]
    attempts = [e.attributes.attempt for e in run.events("ActivityTaskScheduled")]
    assert attempts == [1, 2, 3]
    assert {e.attributes.activity_id for e in run.events("ActivityTaskScheduled")} == {"call"}
    env.assert_replays(run.execution_id)


def test_retries_spent_routes_to_error_edge() -> None:
    env = WorkflowTestEnv([flaky_doc()], handlers={"http": Flaky(10)})
    run = env.start("flaky")
    assert run.result() == "Unavailable"
    failed = run.events("NodeFailed")[0].attributes
    assert failed.routed and failed.error.node_id == "call"
    assert failed.error.details["attempts"] == 3
    assert len(run.events("ActivityTaskFailed")) == 3


def test_retries_spent_without_error_edge_fails_execution() -> None:
    env = WorkflowTestEnv([flaky_doc(error_edge=False)], handlers={"http": Flaky(10)})
    run = env.start("flaky")
    with pytest.raises(WorkflowFailedError) as info:
        run.result()
    assert info.value.status == "failed"
    assert info.value.error is not None and info.value.error.type == "Unavailable"
    assert run.event_types()[-2:] == ["NodeFailed", "WorkflowExecutionFailed"]


@pytest.mark.parametrize(
    "error",
    [
        ActivityError("BadRequest", "nope"),  # listed as non-retryable
        ActivityError("Whatever", "nope", retryable=False),  # says so itself
    ],
)
def test_non_retryable_errors_are_not_retried(error: Exception) -> None:
    retry = {**RETRY, "non_retryable_errors": ["BadRequest"]}
    handler = Flaky(10, error)
    env = WorkflowTestEnv([flaky_doc(retry)], handlers={"http": handler})
    run = env.start("flaky")
    assert run.result() == error.type  # type: ignore[attr-defined]
    assert handler.calls == 1
    assert not run.events("TimerStarted")


def test_default_policy_does_not_retry_and_settings_retry_applies() -> None:
    handler = Flaky(1)
    env = WorkflowTestEnv([flaky_doc(retry=None)], handlers={"http": handler})
    assert env.start("flaky").result() == "Unavailable"
    assert handler.calls == 1
    doc = flaky_doc(retry=None)
    doc["settings"] = {"retry": {"max_attempts": 2, "initial_interval": 0}}
    handler = Flaky(1)
    env = WorkflowTestEnv([doc], handlers={"http": handler})
    run = env.start("flaky")
    assert run.result() == "ok"
    assert not run.events("TimerStarted")  # zero backoff: rescheduled at once


def test_plain_exceptions_become_errors_named_after_their_class() -> None:
    def boom(_: Any) -> Any:
        raise ValueError("bad value")

    env = WorkflowTestEnv([flaky_doc()], handlers={"http": boom})
    run = env.start("flaky")
    assert run.result() == "ValueError"


def test_on_error_continue_completes_with_error_output() -> None:
    doc = workflow(
        "cont",
        [
            trigger(),
            with_options(node("call", "http", url="x"), on_error="continue"),
            node("next", "transform", value="{{ nodes.call.error.message }}"),
        ],
        ["start -> call", "call -> next"],
    )
    env = WorkflowTestEnv([doc], handlers={"http": Flaky(1)})
    run = env.start("cont")
    assert run.result() == "try later"
    # Right after its NodeCompleted, a marker says the node failed and went on.
    history = run.history
    completed = next(
        i
        for i, e in enumerate(history)
        if e.event_type == "NodeCompleted" and e.attributes.node_id == "call"
    )
    marker = history[completed + 1].attributes
    assert marker.marker_name == "error_continued"
    assert marker.details["node_id"] == "call"
    assert marker.details["error"]["message"] == "try later"


def test_jitter_is_deterministic_and_bounded() -> None:
    policy = RetryPolicy(
        max_attempts=5,
        initial_interval_ms=1000,
        backoff_coefficient=2,
        max_interval_ms=5000,
        jitter=0.2,
    )
    a = [retry_delay_ms(policy, n, "exec-1", "call", "") for n in range(1, 6)]
    assert a == [retry_delay_ms(policy, n, "exec-1", "call", "") for n in range(1, 6)]
    b = [retry_delay_ms(policy, n, "exec-2", "call", "") for n in range(1, 6)]
    assert a != b
    for n, delay in enumerate(a, start=1):
        base = min(1000 * 2 ** (n - 1), 5000)
        assert base * 0.8 <= delay <= base * 1.2
    assert 0 <= jitter_fraction("x", "y", "", 1) < 1


def test_schedule_to_start_timeout_then_retry() -> None:
    calls = {"n": 0}

    def lost_once(_: Any) -> Any:
        calls["n"] += 1
        return NO_REPLY if calls["n"] == 1 else "ok"

    doc = flaky_doc(timeout={"schedule_to_start": "5s"})
    env = WorkflowTestEnv([doc], handlers={"http": lost_once})
    run = env.start("flaky")
    assert run.result() == "ok"
    timed_out = run.events("ActivityTaskTimedOut")[0].attributes
    assert (timed_out.timeout_type, timed_out.attempt) == ("schedule_to_start", 1)
    first_timer = run.events("TimerStarted")[0].attributes
    assert (first_timer.purpose, first_timer.timeout_type) == (
        "activity_timeout",
        "schedule_to_start",
    )
    # the late result of attempt 1 is ignored
    before = len(run.history)
    env.send(
        ActivityCompleted(
            execution_id=run.execution_id, activity_id="call", attempt=1, result="late"
        )
    )
    assert len(run.history) == before


def test_start_to_close_timeout_counts_from_scheduling_without_s2s() -> None:
    doc = flaky_doc(timeout={"start_to_close": "2s"})
    env = WorkflowTestEnv([doc], handlers={"http": lambda _: Delayed(5000, "slow")})
    run = env.start("flaky")
    assert run.result() == "Timeout"
    kinds = [e.attributes.timeout_type for e in run.events("ActivityTaskTimedOut")]
    assert kinds == ["start_to_close"] * 3  # three attempts, each timed out
    assert env.now_ms - run.history[0].timestamp_ms == 2000 + 1000 + 2000 + 2000 + 2000


def test_a_timed_out_attempt_is_cancelled_on_its_worker() -> None:
    """Each timed-out attempt's decision sends a CancelActivityTask to its task queue, so
    the worker stops the handler instead of finishing work nobody waits for."""
    doc = flaky_doc(timeout={"start_to_close": "2s"})
    env = WorkflowTestEnv([doc], handlers={"http": lambda _: Delayed(5000, "slow")})
    run = env.start("flaky")
    assert run.result() == "Timeout"
    state = env.replay(run.execution_id)
    timed_out = run.events("ActivityTaskTimedOut")
    cancels = [e for e in effects_of(state, timed_out) if isinstance(e, CancelActivityTask)]
    assert [(c.activity_id, c.attempt, c.reason, c.task_queue) for c in cancels] == [
        ("call", n, "start_to_close", "http") for n in (1, 2, 3)
    ]


def test_start_resets_schedule_to_start_and_arms_start_to_close() -> None:
    doc = flaky_doc(retry=None, timeout={"schedule_to_start": "1s", "start_to_close": "3s"})
    env = WorkflowTestEnv(
        [doc], handlers={"http": lambda _: Delayed(2000, "done")}, report_started=True
    )
    run = env.start("flaky")
    assert run.result() == "done"
    types = run.event_types()
    assert types.index("ActivityTaskStarted") < types.index("TimerCanceled")
    started = [(e.attributes.timeout_type) for e in run.events("TimerStarted")]
    assert started == ["schedule_to_start", "start_to_close"]
    assert len(run.events("TimerCanceled")) == 2  # s2s at start, s2c at completion


@pytest.mark.parametrize(("beat", "outcome"), [(1000, "done"), (None, "Timeout")])
def test_heartbeat_timeout(beat: int | None, outcome: str) -> None:
    doc = flaky_doc(retry=None, timeout={"heartbeat": "3s"})
    env = WorkflowTestEnv(
        [doc],
        handlers={"http": lambda _: Delayed(10_000, "done", heartbeat_every_ms=beat)},
        report_started=True,
    )
    run = env.start("flaky")
    assert run.result() == outcome
    if beat is None:
        assert run.events("ActivityTaskTimedOut")[0].attributes.timeout_type == "heartbeat"
    else:
        # heartbeats re-arm the timer only once half its window is used
        heartbeat_timers = [
            e for e in run.events("TimerStarted") if e.attributes.timeout_type == "heartbeat"
        ]
        assert 3 <= len(heartbeat_timers) <= 9


def test_heartbeat_without_started_marks_started() -> None:
    doc = flaky_doc(retry=None, timeout={"heartbeat": "3s"})
    env = WorkflowTestEnv(
        [doc], handlers={"http": lambda _: Delayed(5_000, "done", heartbeat_every_ms=1000)}
    )
    run = env.start("flaky")
    assert run.result() == "done"
    assert len(run.events("ActivityTaskStarted")) == 1


def test_execution_timeout() -> None:
    doc = flaky_doc(retry=None)
    doc["settings"] = {"execution_timeout": "10s"}
    env = WorkflowTestEnv([doc], handlers={"http": lambda _: NO_REPLY})
    run = env.start("flaky")
    with pytest.raises(WorkflowFailedError) as info:
        run.result()
    assert info.value.status == "timed_out"
    assert run.history[0].attributes.execution_timeout_ms == 10_000
    assert run.event_types()[-2:] == ["ActivityTaskCanceled", "WorkflowExecutionTimedOut"]
    assert run.history[-1].attributes.timeout_ms == 10_000


def test_execution_timeout_timer_cancelled_on_completion() -> None:
    doc = flaky_doc(retry=None)
    doc["settings"] = {"execution_timeout": "10s"}
    env = WorkflowTestEnv([doc], handlers={"http": lambda _: "ok"})
    run = env.start("flaky")
    assert run.result() == "ok"
    assert run.event_types()[-2:] == ["TimerCanceled", "WorkflowExecutionCompleted"]
    assert env.next_due_ms() is None


def test_an_execution_whose_history_reaches_the_limit_fails_with_the_reason() -> None:
    """The limit is the engine's `max_history_events` (LINKFLOW_MAX_HISTORY_EVENTS for the
    history processor; 50,000 by default)."""
    doc = workflow(
        "chatty",
        [
            trigger(),
            node("loop", "while", condition="true", max_iterations=1000),
            node("hear", "wait_for_signal", signal="ping"),
        ],
        ["start -> loop", "loop -loop_body-> hear", "hear -> loop"],
    )
    env = WorkflowTestEnv([doc])
    env.engine.max_history_events = 40
    run = env.start("chatty")
    for _ in range(30):
        if run.is_closed:
            break
        run.signal("ping")
    assert run.status == "failed"
    error = run.state.error
    assert error is not None and error.type == "HistoryLimitExceeded"
    assert error.details["limit"] == 40 and 40 <= error.details["events"] < 50
    assert run.history[-1].event_type == "WorkflowExecutionFailed"
    env.assert_replays(run.execution_id)
