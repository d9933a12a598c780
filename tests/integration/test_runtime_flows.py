"""Workflows end to end on the real broker: history processor, timers processor and workers
as child processes, driven through the client SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from test_runtime_support import (
    HttpServer,
    Runtime,
    http_server,
    linear,
    runtime,
    unique_id,
)
from test_timers_support import read_dead_letters, wait_until

from linkflow.cli.main import main
from linkflow.codec import encode_command
from linkflow.dlq import read_dead_letter_headers


@pytest.fixture(scope="module")
def rt(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with runtime(kafka_bootstrap, tmp_path_factory.mktemp("flows"), "flows") as rt:
        yield rt


@pytest.fixture(scope="module")
def web() -> Iterator[HttpServer]:
    with http_server() as server:
        yield server


def types(outcome_events: list[dict]) -> list[str]:
    return [e["event_type"] for e in outcome_events]


def assert_consecutive(events: list[dict]) -> None:
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))


def test_linear_three_activities(rt: Runtime) -> None:
    wf = unique_id("linear")
    rt.register(
        linear(
            wf,
            ["echo", "echo", "echo"],
            s1={"value": "{{ trigger.n }}"},
            s2={"value": "{{ nodes.s1.value }}"},
            s3={"value": "{{ nodes.s2.value }}"},
        )
    )
    outcome = rt.run(wf, {"n": 7})
    assert outcome.status == "completed", outcome
    assert_consecutive(outcome.events)
    completed = [e for e in outcome.events if e["event_type"] == "ActivityTaskCompleted"]
    assert [e["attributes"]["activity_id"] for e in completed] == ["s1", "s2", "s3"]
    assert completed[-1]["attributes"]["result"] == {"value": 7}


def test_parallel_branches_join(rt: Runtime) -> None:
    wf = unique_id("fanout")
    rt.register(
        {
            "id": wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "a", "type": "echo", "config": {"value": "a"}},
                {"id": "b", "type": "echo", "config": {"value": "b"}},
                {"id": "c", "type": "echo", "config": {"value": "c"}},
                {"id": "join", "type": "merge", "config": {"mode": "all"}},
                {
                    "id": "out",
                    "type": "set",
                    "config": {
                        "values": {"all": "{{ [nodes.a.value, nodes.b.value, nodes.c.value] }}"}
                    },
                },
            ],
            "edges": [
                {"source": "start", "target": "a"},
                {"source": "start", "target": "b"},
                {"source": "start", "target": "c"},
                {"source": "a", "target": "join"},
                {"source": "b", "target": "join"},
                {"source": "c", "target": "join"},
                {"source": "join", "target": "out"},
            ],
        }
    )
    outcome = rt.run(wf, {})
    assert outcome.status == "completed", outcome
    scheduled = [e for e in outcome.events if e["event_type"] == "ActivityTaskScheduled"]
    first_completion = types(outcome.events).index("ActivityTaskCompleted")
    # All three branches were out before any came back: they ran in parallel.
    assert len(scheduled) == 3
    assert all(outcome.events.index(e) < first_completion for e in scheduled)
    out = [e for e in outcome.events if e["event_type"] == "NodeCompleted"]
    assert out[-1]["attributes"]["node_id"] == "out"
    assert out[-1]["attributes"]["output"] == {"all": ["a", "b", "c"]}


def test_if_else_takes_one_branch_and_skips_the_other(rt: Runtime) -> None:
    wf = unique_id("ifelse")
    rt.register(
        {
            "id": wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "check", "type": "if", "config": {"condition": "trigger.amount > 100"}},
                {"id": "big", "type": "echo", "config": {"value": "big"}},
                {"id": "small", "type": "echo", "config": {"value": "small"}},
            ],
            "edges": [
                {"source": "start", "target": "check"},
                {"source": "check", "target": "big", "handle": "true"},
                {"source": "check", "target": "small", "handle": "false"},
            ],
        }
    )
    big = rt.run(wf, {"amount": 500})
    small = rt.run(wf, {"amount": 5})
    for outcome, taken, skipped in ((big, "big", "small"), (small, "small", "big")):
        assert outcome.status == "completed", outcome
        done = {
            e["attributes"]["activity_id"]
            for e in outcome.events
            if e["event_type"] == "ActivityTaskCompleted"
        }
        assert taken in done and skipped not in done
        assert skipped in {
            e["attributes"]["node_id"] for e in outcome.events if e["event_type"] == "NodeSkipped"
        }


def test_error_routing_and_retry_then_success(rt: Runtime, web: HttpServer) -> None:
    wf = unique_id("errors")
    key = unique_id("k")
    rt.register(
        {
            "id": wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {
                    "id": "flaky",
                    "type": "http",
                    "config": {"url": f"{web.url}/flaky/{key}"},
                    "retry": {"max_attempts": 3, "initial_interval": "100ms"},
                },
                {
                    "id": "broken",
                    "type": "http",
                    "config": {"url": f"{web.url}/status/404"},
                    "retry": {"max_attempts": 2, "initial_interval": "100ms"},
                },
                {
                    "id": "handled",
                    "type": "set",
                    "config": {"values": {"why": "{{ nodes.broken.error.type }}"}},
                },
            ],
            "edges": [
                {"source": "start", "target": "flaky"},
                {"source": "flaky", "target": "broken"},
                {"source": "broken", "target": "handled", "handle": "error"},
            ],
        }
    )
    outcome = rt.run(wf, {})
    assert outcome.status == "completed", outcome
    assert web.calls[f"flaky/{key}"] == 2  # failed once (503), succeeded on the retry
    attempts = [
        e["attributes"]["attempt"]
        for e in outcome.events
        if e["event_type"] == "ActivityTaskScheduled" and e["attributes"]["activity_id"] == "flaky"
    ]
    assert attempts == [1, 2]
    failed = [e for e in outcome.events if e["event_type"] == "NodeFailed"]
    assert [e["attributes"]["node_id"] for e in failed] == ["broken"]
    assert failed[0]["attributes"]["routed"] is True
    handled = [
        e
        for e in outcome.events
        if e["event_type"] == "NodeCompleted" and e["attributes"]["node_id"] == "handled"
    ]
    assert handled and handled[0]["attributes"]["output"]["why"]


def test_an_unrouted_failure_fails_the_execution(rt: Runtime, web: HttpServer) -> None:
    wf = unique_id("fails")
    rt.register(linear(wf, ["http"], s1={"url": f"{web.url}/status/400"}))
    outcome = rt.run(wf, {})
    assert outcome.status == "failed", outcome
    assert outcome.error is not None and outcome.error["message"]


def test_durable_wait(rt: Runtime) -> None:
    wf = unique_id("wait")
    rt.register(
        {
            "id": wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "pause", "type": "wait", "config": {"duration": "1s"}},
                {"id": "after", "type": "echo", "config": {"value": "woke"}},
            ],
            "edges": [
                {"source": "start", "target": "pause"},
                {"source": "pause", "target": "after"},
            ],
        }
    )
    outcome = rt.run(wf, {})
    assert outcome.status == "completed", outcome
    started = next(e for e in outcome.events if e["event_type"] == "TimerStarted")
    fired = next(e for e in outcome.events if e["event_type"] == "TimerFired")
    assert fired["timestamp_ms"] >= started["attributes"]["fire_at_ms"]
    assert started["attributes"]["fire_at_ms"] - started["timestamp_ms"] == 1000


def test_approval_by_signal(rt: Runtime) -> None:
    wf = unique_id("approval")
    rt.register(
        {
            "id": wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "approve", "type": "approval", "config": {"signal": "approve"}},
                {"id": "after", "type": "echo", "config": {"value": "{{ nodes.approve }}"}},
            ],
            "edges": [
                {"source": "start", "target": "approve"},
                {"source": "approve", "target": "after", "handle": "true"},
            ],
        }
    )
    execution_id = rt.client.start(wf, {})
    rt.wait_for_event(execution_id, "MarkerRecorded")
    rt.client.signal(execution_id, "approve", {"approved": True, "by": "ana"})
    outcome = rt.wait(execution_id)
    assert outcome.status == "completed", outcome
    assert "WorkflowExecutionSignaled" in types(outcome.events)


def test_a_signal_sent_right_after_the_start_reaches_the_execution(rt: Runtime) -> None:
    """Issue 17, cases 1 and 5: no wait between start and signal (the API no longer asks a
    lagging view first; the engine decides the signal after the start), and CEL's has()
    idiom for optional fields in a condition and a template."""
    wf = unique_id("signal-at-once")
    rt.register(
        {
            "id": wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "approve", "type": "approval", "config": {"signal": "approve"}},
                {
                    "id": "urgent",
                    "type": "if",
                    "config": {"condition": "has(trigger.priority) ? trigger.priority > 1 : false"},
                },
                {
                    "id": "who",
                    "type": "echo",
                    "config": {
                        "by": "{{ has(nodes.approve.by) ? nodes.approve.by : 'nobody' }}",
                        "note": "{{ has(nodes.approve.note) ? nodes.approve.note : 'none' }}",
                    },
                },
            ],
            "edges": [
                {"source": "start", "target": "approve"},
                {"source": "approve", "target": "urgent", "handle": "true"},
                {"source": "urgent", "target": "who", "handle": "false"},
            ],
        }
    )
    execution_id = rt.client.start(wf, {})
    rt.client.signal(execution_id, "approve", {"approved": True, "by": "ana"})
    outcome = rt.wait(execution_id)
    assert outcome.status == "completed", outcome
    completed = [e for e in outcome.events if e["event_type"] == "NodeCompleted"]
    outputs = {e["attributes"]["node_id"]: e["attributes"].get("output") for e in completed}
    assert outputs["urgent"] == {"result": False}
    assert outputs["who"] == {"by": "ana", "note": "none"}


def test_cancel_stops_a_waiting_execution(rt: Runtime) -> None:
    wf = unique_id("cancel")
    rt.register(
        {
            "id": wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "pause", "type": "wait", "config": {"duration": "1h"}},
            ],
            "edges": [{"source": "start", "target": "pause"}],
        }
    )
    execution_id = rt.client.start(wf, {})
    rt.wait_for_event(execution_id, "TimerStarted")
    rt.client.cancel(execution_id, "no longer needed")
    outcome = rt.wait(execution_id)
    assert outcome.status == "canceled", outcome
    assert "TimerCanceled" in types(outcome.events)


def test_cancel_reaches_the_worker_running_the_activity(rt: Runtime) -> None:
    """The cancelled execution's running attempt is stopped on its worker, which reports
    nothing; ActivityTaskCanceled is recorded once."""
    wf = unique_id("cancel-running")
    rt.register(
        {
            "id": wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "nap", "type": "sleep", "config": {"seconds": 3600}},
            ],
            "edges": [{"source": "start", "target": "nap"}],
        }
    )
    execution_id = rt.client.start(wf, {})
    rt.wait_for_event(execution_id, "ActivityTaskStarted")
    rt.client.cancel(execution_id, "no longer needed")
    outcome = rt.wait(execution_id)
    assert outcome.status == "canceled", outcome
    assert types(outcome.events).count("ActivityTaskCanceled") == 1
    worker = rt.processes["worker"]
    wait_until(
        lambda: f"cancelling {execution_id}/nap#1: canceled" in worker.log_text(),
        30,
        "the worker to cancel the attempt",
    )


def test_subworkflow_parent_resumes_with_the_child_outcome(rt: Runtime) -> None:
    child = unique_id("child")
    parent = unique_id("parent")
    rt.register(linear(child, ["echo"], s1={"value": "{{ trigger.x }}"}))
    rt.register(
        {
            "id": parent,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {
                    "id": "sub",
                    "type": "subworkflow",
                    "config": {"workflow_id": child, "input": {"x": "{{ trigger.x }}"}},
                },
                {"id": "after", "type": "echo", "config": {"value": "{{ nodes.sub }}"}},
            ],
            "edges": [
                {"source": "start", "target": "sub"},
                {"source": "sub", "target": "after"},
            ],
        }
    )
    parent_id = rt.client.start(parent, {"x": 42})
    started = rt.wait_for_event(parent_id, "ChildWorkflowExecutionStarted")
    child_id = started["attributes"]["child_execution_id"]
    child_outcome = rt.wait(child_id)
    assert child_outcome.status == "completed", child_outcome
    outcome = rt.wait(parent_id)
    assert outcome.status == "completed", outcome
    assert "ChildWorkflowExecutionCompleted" in types(outcome.events)
    after = [e for e in outcome.events if e["event_type"] == "ActivityTaskCompleted"]
    assert after[-1]["attributes"]["result"]["value"]


def test_idempotent_start(rt: Runtime) -> None:
    wf = unique_id("idem")
    rt.register(linear(wf, ["noop"]))
    first = rt.client.start(wf, {"n": 1}, idempotency_key="order-1")
    second = rt.client.start(wf, {"n": 2}, idempotency_key="order-1")
    assert first == second
    outcome = rt.wait(first)
    assert outcome.status == "completed"
    assert types(outcome.events).count("WorkflowExecutionStarted") == 1
    assert outcome.events[0]["attributes"]["input"] == {"n": 1}


def test_bad_commands_go_to_the_dead_letter_topic_and_processing_goes_on(
    rt: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = rt.prefix + "linkflow.commands"
    producer = rt.client._producer
    producer.produce(topic, key=b"garbage", value=b"\x00not avro")
    wrong_key = encode_command(
        {
            "execution_id": "someone-else",
            "sent_at_ms": 0,
            "input_type": "CancelWorkflow",
            "request_id": "r",
            "reason": "",
            "identity": "",
        }
    )
    producer.produce(topic, key=b"mismatch", value=wrong_key)
    # Well formed, but for an execution nobody started: nothing to apply it to.
    producer.produce(
        topic,
        key=b"never-started",
        value=encode_command(
            {
                "execution_id": "never-started",
                "sent_at_ms": 0,
                "input_type": "SignalWorkflow",
                "request_id": "r2",
                "signal_name": "go",
                "payload": None,
            }
        ),
    )
    producer.flush(10)
    wf = unique_id("after-garbage")
    rt.register(linear(wf, ["noop"]))
    assert rt.run(wf, {}).status == "completed"
    records = read_dead_letters(rt.topics, lambda found: len(found) >= 3, 60)
    letters = {r.key(): read_dead_letter_headers(r.headers()) for r in records}
    assert set(letters) == {b"garbage", b"mismatch", b"never-started"}  # keys unchanged
    assert letters[b"mismatch"].reason == "wrong_key"
    assert letters[b"never-started"].reason == "unknown_execution"
    assert "never started" in letters[b"never-started"].detail
    # The undecodable one, with its decode reason.
    assert letters[b"garbage"].reason not in ("wrong_key", "unknown_execution")
    assert {info.topic for info in letters.values()} == {topic}

    # `linkflow dlq list` shows them with reason and source; `requeue` sends one back to
    # its source topic, where (still never started) it is dead-lettered once more.
    cli = ["--bootstrap-servers", rt.topics.bootstrap, "--topic-prefix", rt.prefix]
    capsys.readouterr()
    assert main(["dlq", "list", "--json", *cli]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_key = {item["key"]: item for item in listed}
    assert by_key["never-started"]["reason"] == "unknown_execution"
    assert by_key["mismatch"]["source"]["topic"] == topic
    assert main(["dlq", "list", *cli]) == 0
    table = capsys.readouterr().out
    assert "unknown_execution" in table and "wrong_key" in table
    assert main(["dlq", "requeue", by_key["never-started"]["ref"], *cli]) == 0
    assert "1 record(s) requeued" in capsys.readouterr().out
    again = read_dead_letters(
        rt.topics, lambda found: sum(r.key() == b"never-started" for r in found) >= 2, 60
    )
    assert sum(r.key() == b"never-started" for r in again) == 2
    assert main(["dlq", "requeue", "9:999999", *cli]) == 1


def test_an_oversized_signal_is_dead_lettered_and_nothing_stops(rt: Runtime) -> None:
    """A signal whose events or state would pass the record limit is refused with its
    reason; the execution keeps waiting for a proper one, and the partition keeps moving.
    A garbage command of about 1 MB is dead-lettered truncated, its size and hash kept."""
    wf = unique_id("big-signal")
    rt.register(
        {
            "id": wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "approve", "type": "approval", "config": {"signal": "approve"}},
            ],
            "edges": [{"source": "start", "target": "approve"}],
        }
    )
    execution_id = rt.client.start(wf, {})
    rt.wait_for_event(execution_id, "MarkerRecorded")
    # The client refuses a payload this large; a producer that does not validate sends it.
    big = {
        "input_type": "SignalWorkflow",
        "execution_id": execution_id,
        "sent_at_ms": 0,
        "request_id": "big-signal",
        "signal_name": "approve",
        "payload": {"blob": "x" * 700_000},
    }
    commands = rt.prefix + "linkflow.commands"
    rt.client._producer.produce(commands, key=execution_id.encode(), value=encode_command(big))
    garbage = b"\x00" + b"g" * 999_000
    rt.client._producer.produce(commands, key=b"huge", value=garbage)
    rt.client._producer.flush(10)

    letters = read_dead_letters(
        rt.topics,
        lambda found: {r.key() for r in found} >= {execution_id.encode(), b"huge"},
        60,
    )
    by_key = {r.key(): r for r in letters}
    refused = read_dead_letter_headers(by_key[execution_id.encode()].headers())
    assert refused.reason == "too_large" and refused.error_type == "PayloadTooLarge"
    assert "bytes" in (refused.detail or "")
    huge = by_key[b"huge"]
    headers = dict(huge.headers())
    assert headers["linkflow.dlq.original_size"] == str(len(garbage)).encode()
    assert len(huge.value()) < len(garbage) and garbage.startswith(huge.value())

    rt.client.signal(execution_id, "approve", {"approved": True})
    assert rt.wait(execution_id).status == "completed"
    again = unique_id("after-big")
    rt.register(linear(again, ["noop"]))
    assert rt.run(again, {}).status == "completed"


def test_a_late_result_for_a_closed_execution_is_ignored_not_called_unknown(rt: Runtime) -> None:
    """Issue 16, case 6: it was dead-lettered as `unknown_execution ... never started`.
    A result for an activity a closed execution does not have changes nothing (counted in
    linkflow_inputs_ignored); only an execution that never started is dead-lettered so."""
    from linkflow.worker.messages import ActivityTask, completed

    wf = unique_id("late-result")
    rt.register(linear(wf, ["noop"]))
    done = rt.client.start(wf, {})
    assert rt.wait(done).status == "completed"
    # A never-started execution on the same partition: once its dead letter is written,
    # the late result (produced before it) has been decided.
    home = rt.client._history_partition(done)
    never = next(
        f"never-{i}" for i in range(10_000) if rt.client._history_partition(f"never-{i}") == home
    )
    topic = rt.prefix + "linkflow.results"
    for execution_id in (done, never):
        task = ActivityTask(execution_id, "no-such-activity", 1, "no-such-activity", "noop", None)
        value = completed(task, {"late": True}, "test", 0)
        rt.client._producer.produce(topic, key=execution_id.encode(), value=value)
    rt.client._producer.flush(10)

    letters = read_dead_letters(
        rt.topics, lambda found: never.encode() in {r.key() for r in found}, 60
    )
    reasons = {r.key(): read_dead_letter_headers(r.headers()).reason for r in letters}
    assert reasons[never.encode()] == "unknown_execution"
    assert done.encode() not in reasons
    again = unique_id("after-late")
    rt.register(linear(again, ["noop"]))
    assert rt.run(again, {}).status == "completed"


def test_an_oversized_activity_result_fails_the_node_with_payload_too_large(rt: Runtime) -> None:
    """Issue 16: a result above the payload limit fails its activity (not retryable,
    routable by an error edge); results that fit one by one but would make the execution's
    state too large fail the activity that passes the limit, the result kept in the DLQ."""
    wf = unique_id("big-result")
    rt.register(
        {
            "id": wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "big", "type": "code", "config": {"source": "result = 'x' * 600_000"}},
                {"id": "caught", "type": "transform", "config": {"value": "{{ nodes.big.error }}"}},
            ],
            "edges": [
                {"source": "start", "target": "big"},
                {"source": "big", "target": "caught", "handle": "error"},
            ],
        }
    )
    outcome = rt.run(wf, {})
    assert outcome.status == "completed", outcome
    assert outcome.output["type"] == "PayloadTooLarge" and outcome.output["retryable"] is False

    many = unique_id("big-state")
    rt.register(
        {
            "id": many,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "each", "type": "foreach", "config": {"items": "[1, 2, 3]"}},
                {"id": "part", "type": "code", "config": {"source": "result = 'y' * 400_000"}},
            ],
            "edges": [
                {"source": "start", "target": "each"},
                {"source": "each", "target": "part", "handle": "loop_body"},
                {"source": "part", "target": "each"},
            ],
        }
    )
    execution_id = rt.client.start(many, {})
    outcome = rt.wait(execution_id)
    assert outcome.status == "failed", outcome
    assert outcome.error is not None and outcome.error["type"] == "PayloadTooLarge"
    letters = read_dead_letters(
        rt.topics, lambda found: execution_id.encode() in {r.key() for r in found}, 60
    )
    kept = [r for r in letters if r.key() == execution_id.encode()]
    assert read_dead_letter_headers(kept[0].headers()).reason == "too_large"
