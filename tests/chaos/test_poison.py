"""Poison at volume: while hundreds of executions with activities, waits and parallel
branches run, every kind of bad record lands on `linkflow.commands` and `linkflow.results`
again and again: garbage bytes, a megabyte of garbage, valid Avro with nonsense (an empty
execution id, a key that is not the execution id, a result for a task nobody was given),
commands and results for executions that never started, and starts under an id another
start already took. Each refused record reaches `linkflow.dlq` with its reason, the inputs
that are only late or repeated change nothing, and every real execution ends exactly once
with PostgreSQL equal to history.

    .venv/bin/pytest tests/chaos -k poison                  # once (CI)
    tests/chaos/repeat.sh 5 -k poison                       # the loop
"""

from __future__ import annotations

from collections import Counter

from checker import loader, verified
from test_runtime_kills import waits_and_branches
from test_runtime_support import OUTCOME_TIMEOUT, Runtime, unique_id
from test_timers_support import read_dead_letters

from linkflow.codec import encode_command
from linkflow.dlq import read_dead_letter_headers
from linkflow.worker.messages import ActivityTask, completed

ROUNDS = 5
LOAD_PER_ROUND = 40
HUGE = 999_000  # bytes: just under the topics' record limit, far above any real input
# What an undecodable record is called depends on where its bytes stop making sense.
DECODE_REASONS = {"bad_marker", "truncated", "unknown_fingerprint", "malformed"}


def _command(input_type: str, execution_id: str, **fields: object) -> bytes:
    return encode_command(
        {
            "input_type": input_type,
            "execution_id": execution_id,
            "sent_at_ms": 0,
            "request_id": unique_id("poison-request"),
            **fields,
        }
    )


def _result(execution_id: str) -> bytes:
    task = ActivityTask(execution_id, "no-such-activity", 1, "no-such-activity", "echo", None)
    return completed(task, {"forged": True}, "poisoner", 0)


def _poison(rt: Runtime, wf: str, round_: int, started: list[str]) -> dict[bytes, str | None]:
    """One round of bad records; the dead-letter reason expected for each key (None: any
    decode reason). Inputs that must be dropped without a dead letter are sent too."""
    commands, results = rt.prefix + "linkflow.commands", rt.prefix + "linkflow.results"
    produce = rt.client._producer.produce
    expected: dict[bytes, str | None] = {}

    def bad(topic: str, key: str, value: bytes, reason: str | None) -> None:
        produce(topic, key=key.encode(), value=value)
        expected[key.encode()] = reason

    r = round_
    bad(commands, f"garbage-{r}", b"\x00 not avro at all", None)
    bad(commands, f"huge-{r}", b"\x00" + b"g" * HUGE, None)
    bad(
        commands,
        f"mismatch-{r}",
        _command("CancelWorkflow", "someone-else", reason="", identity=""),
        "wrong_key",
    )
    bad(
        commands,
        f"never-{r}",
        _command("SignalWorkflow", f"never-{r}", signal_name="go", payload=None),
        "unknown_execution",
    )
    bad(
        commands,
        f"empty-id-{r}",
        _command("SignalWorkflow", "", signal_name="go", payload=None),
        "invalid",
    )
    bad(results, f"rgarbage-{r}", b"\xc3\x01 almost avro", None)
    bad(results, f"rhuge-{r}", b"\x00" + b"r" * HUGE, None)
    bad(results, f"rnever-{r}", _result(f"rnever-{r}"), "unknown_execution")
    # A start under a taken id, by another request: refused, not silently dropped.
    taken = started[r * LOAD_PER_ROUND]
    rt.client.start(wf, {"conflicting": r}, execution_id=taken, flush=False)
    expected[taken.encode()] = "execution_exists"
    # Dropped and counted, no dead letter: a forged result for a task an execution does not
    # have, and a start repeated under its idempotency key. (The execution must have
    # started: results and commands are different topics, so a result sent right after a
    # start may be decided before it, and then it is for an execution never started.)
    rt.wait_for_event(taken, "WorkflowExecutionStarted")
    produce(results, key=taken.encode(), value=_result(taken))
    rt.client.start(wf, {"n": -1}, idempotency_key=f"poison-idem-{r}", flush=False)
    rt.client.start(wf, {"n": -2}, idempotency_key=f"poison-idem-{r}", flush=False)
    rt.client.flush()
    return expected


def test_poison_records_at_volume_are_dead_lettered_and_nothing_stops(
    rt: Runtime, database_url: str
) -> None:
    rt.start_with_sink(database_url)
    wf = unique_id("chaos-poison")
    rt.register(waits_and_branches(wf))

    ids: list[str] = []
    load = loader(rt, wf, ids)
    expected: dict[bytes, str | None] = {}
    for round_ in range(ROUNDS):
        load(LOAD_PER_ROUND // 2)
        expected |= _poison(rt, wf, round_, ids)
        load(LOAD_PER_ROUND // 2)
    idempotent = [
        rt.client.start(wf, None, idempotency_key=f"poison-idem-{r}") for r in range(ROUNDS)
    ]

    for execution_id in ids + idempotent:
        rt.wait(execution_id, timeout=OUTCOME_TIMEOUT)
    letters = read_dead_letters(
        rt.topics, lambda found: {m.key() for m in found} >= set(expected), OUTCOME_TIMEOUT
    )
    reasons = {m.key(): read_dead_letter_headers(m.headers()).reason for m in letters}
    assert len(letters) == len(expected), Counter(m.key() for m in letters)
    for key, reason in expected.items():
        if reason is None:
            assert reasons[key] in DECODE_REASONS, (key, reasons[key])
        else:
            assert reasons[key] == reason, (key, reasons[key])

    report = verified(
        rt.topics.bootstrap, rt.prefix, ids + idempotent, f"poison, {ROUNDS} rounds", database_url
    )
    assert report.ok, report.table() + "\n" + rt.logs()
    assert report.mismatched_rows == []
    assert sum(report.dead_letters.values()) == len(expected)
    for execution_id in idempotent:  # started once, by the first of its two starts
        started = rt.history(execution_id)[0]
        assert started["event_type"] == "WorkflowExecutionStarted"
        assert started["attributes"]["input"] == {"n": -1}
    rt.check_alive()
