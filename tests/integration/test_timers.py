"""The timers processor on the real broker: due timers fire once, on the execution's
partition and never early; cancelled timers and those of ended executions never fire; a
timer already due at startup fires at once; undecodable history goes to the DLQ.

The test plays the history processor: it writes TimerStarted/TimerCanceled/terminal events
and confirms fired timers with the history's TimerFired.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_timers_support import (
    STARTUP,
    HistoryWriter,
    ResultsReader,
    TimersProcess,
    Topics,
    history_event,
    ids_on_one_partition,
    now_ms,
    partition_for,
    read_dead_letters,
    timer_started,
    topics_of_our_own,
    unique,
    wait_committed,
    wait_ready,
)

from linkflow.dlq import read_dead_letter_headers

RESEND = 5.0  # seconds; long enough that a prompt confirmation leaves exactly one fire


@pytest.fixture(scope="module")
def topics(kafka_bootstrap: str) -> Iterator[Topics]:
    with topics_of_our_own(kafka_bootstrap, "test-timers") as topics:
        yield topics


@pytest.fixture(scope="module")
def writer(topics: Topics) -> HistoryWriter:
    return HistoryWriter(topics)


@pytest.fixture(scope="module")
def reader(topics: Topics) -> Iterator[ResultsReader]:
    reader = ResultsReader(topics)
    yield reader
    reader.close()


@pytest.fixture(scope="module")
def processor(
    topics: Topics,
    writer: HistoryWriter,
    reader: ResultsReader,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TimersProcess]:
    datadir = tmp_path_factory.mktemp("timers") / "state"
    proc = TimersProcess(topics, datadir, extra=["--resend-interval", str(RESEND)]).start()
    try:
        wait_ready(proc, writer, reader)
        yield proc
    finally:
        proc.stop()


def test_a_due_timer_fires_once_on_the_execution_partition_and_not_early(
    topics: Topics, writer: HistoryWriter, reader: ResultsReader, processor: TimersProcess
) -> None:
    execution = unique("once")
    fire_at = now_ms() + 1000
    [(history_partition, _)] = writer.write(timer_started(execution, "t1", fire_at))

    [fired] = reader.wait_for(lambda: reader.of(execution, "t1"), 30, "the TimerFired")
    assert fired.fired_at_ms >= fire_at
    assert fired.timestamp_ms >= fire_at  # the record itself was produced after the due time
    # murmur2 as aiokafka computes it, and as librdkafka did for the history record: the
    # input lands where the history processor owning the execution reads.
    assert fired.partition == partition_for(execution, topics.partitions) == history_partition

    # The history processor records the fire; after that nothing is sent again, not even
    # once the resend interval has passed.
    wait_committed(topics, processor.app_id, [writer.confirm(execution, "t1")])
    reader.read_to_end()
    quiet_until = time.monotonic() + RESEND + 1.0
    while time.monotonic() < quiet_until:
        reader.poll(0.2)
    assert len(reader.of(execution, "t1")) == 1


def test_an_unconfirmed_timer_is_sent_again(
    topics: Topics, writer: HistoryWriter, reader: ResultsReader, processor: TimersProcess
) -> None:
    execution = unique("resend")
    writer.write(timer_started(execution, "t1", now_ms()))
    reader.wait_for(lambda: len(reader.of(execution)) >= 2, 30, "a resent TimerFired")
    first, second = reader.of(execution)[:2]
    assert second.timestamp_ms - first.timestamp_ms >= RESEND * 1000 - 50
    writer.confirm(execution, "t1")


def test_a_cancelled_timer_never_fires(
    writer: HistoryWriter, reader: ResultsReader, processor: TimersProcess
) -> None:
    execution = unique("cancel")
    due = now_ms() + 1500
    writer.write(
        timer_started(execution, "cancelled", due),
        history_event(execution, "TimerCanceled", timer_id="cancelled"),
        # Same execution, so same partition and store: when this later timer fires, the
        # cancelled one would already have been sent before it.
        timer_started(execution, "control", due + 300),
    )
    reader.wait_for(lambda: reader.of(execution, "control"), 30, "the control timer")
    assert reader.of(execution, "cancelled") == []
    writer.confirm(execution, "control")


@pytest.mark.parametrize(
    ("event_type", "attributes"),
    [
        ("WorkflowExecutionCompleted", {"output": {"ok": True}}),
        ("WorkflowExecutionCanceled", {"reason": "user asked"}),
        ("WorkflowExecutionContinuedAsNew", {"new_execution_id": "next", "input": {}}),
    ],
)
def test_a_terminal_event_cancels_all_the_executions_timers(
    topics: Topics,
    writer: HistoryWriter,
    reader: ResultsReader,
    processor: TimersProcess,
    event_type: str,
    attributes: dict[str, object],
) -> None:
    ended, control = ids_on_one_partition(unique("ended"), 2, topics.partitions)
    due = now_ms() + 1500
    writer.write(
        timer_started(ended, "wait", due),
        timer_started(ended, "timeout", due + 100),
        history_event(ended, event_type, **attributes),
        timer_started(control, "control", due + 400),
    )
    reader.wait_for(lambda: reader.of(control, "control"), 30, "the control timer")
    assert reader.of(ended) == []
    writer.confirm(control, "control")


def test_undecodable_history_goes_to_the_dlq_and_processing_continues(
    topics: Topics, writer: HistoryWriter, reader: ResultsReader, processor: TimersProcess
) -> None:
    execution = unique("dlq")
    garbage = b"\x00\x01 not an Avro single-object record " + execution.encode()
    partition, offset = writer.write_raw(execution.encode(), garbage)
    writer.write(timer_started(execution, "after", now_ms() + 200))

    reader.wait_for(lambda: reader.of(execution, "after"), 30, "the timer after the garbage")
    records = read_dead_letters(
        topics, lambda records: any(r.value() == garbage for r in records), 30
    )
    letter = next(r for r in records if r.value() == garbage)
    assert letter.key() == execution.encode()
    info = read_dead_letter_headers(letter.headers())
    assert info.reason == "bad_marker"
    assert (info.topic, info.partition, info.offset) == (topics.history, partition, offset)
    writer.confirm(execution, "after")


def test_a_timer_already_due_at_startup_fires_at_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    # Topics of its own: the module's processor must not be the one that fires it.
    with topics_of_our_own(kafka_bootstrap, "test-timers-overdue") as topics:
        writer = HistoryWriter(topics)
        reader = ResultsReader(topics)
        execution = unique("overdue")
        fire_at = now_ms() - 5000
        writer.write(timer_started(execution, "late", fire_at))
        # A loop that waited for its next tick after startup would take a minute.
        proc = TimersProcess(topics, tmp_path / "state", extra=["--tick", "60"])
        began = time.monotonic()
        proc.start()
        try:

            def fired() -> object:
                assert proc.alive(), proc.log_text()[-5000:]
                return reader.of(execution, "late")

            [first, *_] = reader.wait_for(fired, STARTUP, "the overdue timer")
            assert time.monotonic() - began < 60
            assert first.fired_at_ms >= fire_at
            assert first.partition == partition_for(execution, topics.partitions)
        finally:
            proc.stop()
            reader.close()
