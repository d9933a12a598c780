"""The pure pieces of the transactional loop and the stores: where a batch resumes, the
transactional.id kept across restarts, a partition store's atomic writes with their
changelog offset, and the timers' view of a store during a batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from confluent_kafka import Message

from processors.exactly_once import first_offsets, next_offsets, transactional_id
from processors.state_store import OFFSET_KEY, PartitionStore, PartitionStores
from processors.timers import _BatchView


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._where = (topic, partition, offset)

    def topic(self) -> str:
        return self._where[0]

    def partition(self) -> int:
        return self._where[1]

    def offset(self) -> int:
        return self._where[2]


def batch(*where: tuple[str, int, int]) -> list[Message]:
    return cast(list[Message], [FakeMessage(*w) for w in where])


def positions(tps: Any) -> set[tuple[str, int, int]]:
    return {(tp.topic, tp.partition, tp.offset) for tp in tps}


def test_a_batch_resumes_past_its_last_record_and_rewinds_to_its_first() -> None:
    records = batch(("c", 0, 7), ("r", 0, 3), ("c", 0, 5), ("c", 2, 9), ("r", 0, 4))
    assert positions(next_offsets(records)) == {("c", 0, 8), ("r", 0, 5), ("c", 2, 10)}
    assert positions(first_offsets(records)) == {("c", 0, 5), ("r", 0, 3), ("c", 2, 9)}


def test_the_transactional_id_survives_a_restart_on_the_same_directory(tmp_path: Path) -> None:
    first = transactional_id("app", tmp_path / "a")
    assert first.startswith("app-")
    assert transactional_id("app", tmp_path / "a") == first
    assert transactional_id("app", tmp_path / "b") != first


def test_a_store_write_applies_values_and_offset_together(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "p0")
    assert store.changelog_offset() == 0
    store.write({b"a": b"1", b"b": b"2"}, 17)
    store.write({b"a": None, b"c": b"3"}, None)  # no offset known: the old one stays
    assert (store.get(b"a"), store.get(b"b"), store.get(b"c")) == (None, b"2", b"3")
    assert store.changelog_offset() == 17
    assert list(store.keys_from(b"b")) == [b"b", b"c"]
    store.close()
    again = PartitionStore(tmp_path / "p0")
    assert again.changelog_offset() == 17 and again.get(b"b") == b"2"
    assert OFFSET_KEY < b"a"  # our own key sorts before every execution id
    again.close()


def test_a_batch_view_reads_its_own_writes_over_the_store(tmp_path: Path) -> None:
    stores = PartitionStores(tmp_path)
    store = stores.get(3)
    store.write({b"\x01e1\x00t1": b"k1", b"\x01e1\x00t2": b"k2", b"\x01e2\x00t1": b"k3"}, 5)
    view = _BatchView(store)
    del view[b"\x01e1\x00t1"]
    view[b"\x01e1\x00t3"] = b"k4"
    assert view.get(b"\x01e1\x00t1") is None and view.get(b"\x01e1\x00t2") == b"k2"
    assert sorted(view.keys_with_prefix(b"\x01e1\x00")) == [b"\x01e1\x00t2", b"\x01e1\x00t3"]
    assert store.get(b"\x01e1\x00t1") == b"k1"  # the store changes only when committed
    assert view.writes == {b"\x01e1\x00t1": None, b"\x01e1\x00t3": b"k4"}
    stores.close()
