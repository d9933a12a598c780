"""SIGKILL of the timers processor with timers pending, then a restart with the same state
directory or with none (the tables come back from their changelogs): every timer still
fires, none early, and a timer the history has confirmed is not sent again."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from test_timers_support import (
    STARTUP,
    HistoryWriter,
    ResultsReader,
    TimersProcess,
    now_ms,
    partition_for,
    timer_started,
    topics_of_our_own,
    unique,
    wait_committed,
    wait_ready,
)

EARLY = 10  # due before the kill: fired by the first process, never confirmed
LATE = 30  # due after the kill
RESEND = 1.0


@pytest.mark.parametrize("state", ["kept", "wiped"])
def test_sigkill_with_pending_timers_then_restart(
    kafka_bootstrap: str, tmp_path: Path, state: str
) -> None:
    with topics_of_our_own(kafka_bootstrap, f"test-timers-crash-{state}") as topics:
        writer = HistoryWriter(topics)
        reader = ResultsReader(topics)
        datadir = tmp_path / "state"
        # The shortest session timeout the broker allows: the restarted instance gets the
        # dead one's partitions in seconds, not after the processors' default minute.
        extra = ["--resend-interval", str(RESEND), "--session-timeout", "6"]
        first = TimersProcess(topics, datadir, extra=extra).start()
        try:
            wait_ready(first, writer, reader)
            run = unique("crash")
            base = now_ms()
            timers = {
                f"{run}-{i}": base + (500 + 50 * i if i < EARLY else 12_000 + 100 * i)
                for i in range(EARLY + LATE)
            }
            offsets = writer.write(*(timer_started(e, "t", at) for e, at in timers.items()))
            early = list(timers)[:EARLY]
            reader.wait_for(
                lambda: all(reader.of(e) for e in early), 30, "the early timers to fire"
            )
            # Every TimerStarted is in the tables and their changelogs before the kill, so
            # the restarted instance does not re-read them from history.
            wait_committed(topics, first.app_id, offsets)
            assert first.kill(signal.SIGKILL) == -signal.SIGKILL
        finally:
            first.stop()

        if state == "wiped":
            shutil.rmtree(datadir)
        restarted_at = now_ms()
        second = TimersProcess(topics, datadir, app_id=first.app_id, extra=extra).start()
        try:

            def all_fired_after_restart() -> bool:
                assert second.alive(), second.log_text()[-5000:]
                return all(
                    any(f.timestamp_ms >= restarted_at for f in reader.of(e)) for e in timers
                )

            reader.wait_for(all_fired_after_restart, STARTUP + 30, "every timer to fire")
            for execution, fire_at in timers.items():
                for fired in reader.of(execution):
                    assert fired.fired_at_ms >= fire_at, (execution, fired)
                    assert fired.timestamp_ms >= fire_at, (execution, fired)
                    assert fired.partition == partition_for(execution, topics.partitions)

            # Confirm every timer as the history processor would; once the processor has
            # read the confirmations, nothing more may be sent for them.
            confirmations = [writer.confirm(e, "t") for e in timers]
            wait_committed(topics, second.app_id, confirmations)
            reader.read_to_end()
            settled = {e: len(reader.of(e)) for e in timers}
            quiet_until = time.monotonic() + 3 * RESEND
            while time.monotonic() < quiet_until:
                reader.poll(0.2)
            assert {e: len(reader.of(e)) for e in timers} == settled
            assert second.kill(signal.SIGTERM) == 0  # a graceful stop
        finally:
            second.stop()
            reader.close()


def _members_with_partitions(bootstrap: str, group: str, topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    [description] = admin.describe_consumer_groups([group]).values()
    members = description.result(10).members
    return sum(
        1
        for member in members
        if member.assignment and any(tp.topic == topic for tp in member.assignment.topic_partitions)
    )


def test_two_instances_share_partitions_and_one_takes_over_after_a_sigkill(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with topics_of_our_own(kafka_bootstrap, "test-timers-pair") as topics:
        writer = HistoryWriter(topics)
        reader = ResultsReader(topics)
        extra = ["--resend-interval", str(RESEND), "--session-timeout", "6"]
        one = TimersProcess(topics, tmp_path / "one", extra=extra).start()
        two = TimersProcess(topics, tmp_path / "two", app_id=one.app_id, extra=extra)
        try:
            wait_ready(one, writer, reader)
            two.start()
            reader.wait_for(
                lambda: _members_with_partitions(kafka_bootstrap, one.app_id, topics.history) == 2,
                STARTUP,
                "both instances to own history partitions",
            )
            wait_ready(two, writer, reader)  # the group serves again after the rebalance
            run = unique("pair")
            base = now_ms()
            timers = {f"{run}-{i}": base + 15_000 + 50 * i for i in range(40)}
            offsets = writer.write(*(timer_started(e, "t", at) for e, at in timers.items()))
            wait_committed(topics, one.app_id, offsets)
            assert two.kill(signal.SIGKILL) == -signal.SIGKILL

            def all_fired() -> bool:
                assert one.alive(), one.log_text()[-5000:]
                return all(reader.of(e) for e in timers)

            reader.wait_for(all_fired, STARTUP, "every timer to fire on the survivor")
            for execution, fire_at in timers.items():
                for fired in reader.of(execution):
                    assert fired.fired_at_ms >= fire_at
                    assert fired.partition == partition_for(execution, topics.partitions)
        finally:
            two.stop()
            one.stop()
            reader.close()
