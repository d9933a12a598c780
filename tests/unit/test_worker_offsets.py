"""The offset tracker commits only the completed prefix of each partition, whatever order
tasks finish in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkflow.worker.offsets import OffsetTracker, PartitionOffsets

# Increasing offsets with gaps, as transaction markers and compaction leave them.
offsets_with_gaps = st.lists(st.integers(1, 3), min_size=1, max_size=60).map(
    lambda steps: [sum(steps[: i + 1]) for i in range(len(steps))]
)


@given(offsets=offsets_with_gaps, data=st.data())
def test_position_is_the_lowest_unfinished_offset_in_any_completion_order(
    offsets: list[int], data: st.DataObject
) -> None:
    tracker = PartitionOffsets()
    added: list[int] = []
    unfinished: set[int] = set()
    committed: int | None = None
    remaining = list(offsets)
    while remaining or unfinished:
        # Interleave fetching and finishing arbitrarily, as the worker does.
        if remaining and (not unfinished or data.draw(st.booleans(), label="fetch")):
            offset = remaining.pop(0)
            tracker.add(offset)
            added.append(offset)
            unfinished.add(offset)
        else:
            offset = data.draw(st.sampled_from(sorted(unfinished)), label="finish")
            tracker.finish(offset)
            unfinished.remove(offset)

        expected = min(unfinished) if unfinished else added[-1] + 1
        assert tracker.position == expected
        assert tracker.pending == len(unfinished)
        # Never past an unfinished offset, never backwards.
        candidate = tracker.to_commit()
        if candidate is not None:
            assert all(candidate <= o for o in unfinished)
            assert committed is None or candidate > committed
            if data.draw(st.booleans(), label="commit now"):
                tracker.mark_committed(candidate)
                committed = candidate
    assert tracker.position == offsets[-1] + 1


@given(offsets=offsets_with_gaps, data=st.data())
def test_committed_offset_never_skips_a_task_that_has_not_finished(
    offsets: list[int], data: st.DataObject
) -> None:
    tracker = PartitionOffsets()
    for offset in offsets:
        tracker.add(offset)
    order = data.draw(st.permutations(offsets), label="completion order")
    stop = data.draw(st.integers(0, len(order)), label="finished before the crash")
    for offset in order[:stop]:
        tracker.finish(offset)
    position = tracker.position
    assert position is not None
    crashed_unfinished = set(order[stop:])
    # After a crash the worker resumes at `position`: every unfinished task is re-run ...
    assert all(offset >= position for offset in crashed_unfinished)
    # ... and no finished task before the first gap is.
    rerun = {o for o in offsets if o >= position}
    assert rerun >= crashed_unfinished
    assert not {o for o in order[:stop] if o < position} & rerun


def test_nothing_to_commit_before_the_first_fetch() -> None:
    tracker = PartitionOffsets()
    assert tracker.position is None
    assert tracker.to_commit() is None


def test_offsets_must_increase_and_be_pending_to_finish() -> None:
    tracker = PartitionOffsets()
    tracker.add(5)
    with pytest.raises(ValueError):
        tracker.add(5)
    with pytest.raises(KeyError):
        tracker.finish(4)
    tracker.finish(5)
    with pytest.raises(KeyError):
        tracker.finish(5)


def test_tracker_commits_each_partition_independently() -> None:
    tracker = OffsetTracker()
    a, b = ("tasks", 0), ("tasks", 1)
    tracker.assign([a, b])
    pa = [tracker.track(a, o) for o in (0, 1, 2)]
    pb = [tracker.track(b, o) for o in (10, 11)]
    assert pa[0] is not None and pb[0] is not None
    pa[0].finish(1)
    pb[0].finish(10)
    pb[0].finish(11)
    todo = {tp: pos for tp, _, pos in tracker.to_commit()}
    assert todo == {a: 0, b: 12}  # a waits for offset 0; b is complete
    for _, offsets, pos in tracker.to_commit():
        offsets.mark_committed(pos)
    assert tracker.to_commit() == []
    assert tracker.pending() == 2


def test_unassigned_partitions_are_not_tracked() -> None:
    tracker = OffsetTracker()
    assert tracker.track(("tasks", 3), 0) is None
    assert tracker.to_commit() == []


def test_revoke_returns_the_completed_prefix_and_forgets_the_partition() -> None:
    tracker = OffsetTracker()
    tp = ("tasks", 0)
    tracker.assign([tp])
    offsets = tracker.track(tp, 0)
    assert offsets is not None
    tracker.track(tp, 1)
    tracker.track(tp, 2)
    offsets.finish(0)
    offsets.finish(2)
    assert tracker.revoke([tp]) == {tp: 1}
    assert offsets.revoked
    assert tracker.assigned() == []


def test_work_finished_under_a_revoked_assignment_cannot_move_the_new_one() -> None:
    tracker = OffsetTracker()
    tp = ("tasks", 0)
    tracker.assign([tp])
    old = tracker.track(tp, 7)
    assert old is not None
    tracker.revoke([tp])
    tracker.assign([tp])  # the partition comes back: the group re-delivers offset 7
    new = tracker.track(tp, 7)
    assert new is not None and new is not old
    old.finish(7)  # the slow first run ends after the reassignment
    assert tracker.to_commit()[0][2] == 7  # still waiting for the new run of offset 7
    new.finish(7)
    assert tracker.to_commit()[0][2] == 8
