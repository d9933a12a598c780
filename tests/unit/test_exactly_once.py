"""The pure pieces of the transactional loop and the stores: where a batch resumes, the
transactional.id kept across restarts, a partition store's atomic writes with their
changelog offset, and the timers' view of a store during a batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from processors import definitions, exactly_once
from processors.exactly_once import (
    LoopConfig,
    TransactionalLoop,
    first_offsets,
    next_offsets,
    transactional_id,
)
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


class _Deciding:
    """A processor whose deciding needs Kafka, which is away (or worse)."""

    def __init__(self, error: KafkaError) -> None:
        self.error = error
        self.aborted_batches = 0

    def handle(self, _batch: Any, _stores: Any) -> Any:
        raise KafkaException(self.error)

    def aborted(self) -> None:
        self.aborted_batches += 1


class _Seeks:
    def __init__(self) -> None:
        self.seeks: list[TopicPartition] = []

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append(tp)


def test_a_batch_that_needed_an_unreachable_kafka_is_read_again_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the broker-restart chaos scenario: the history processor died when its
    definitions feed could not reach the broker while it decided a start."""
    monkeypatch.setattr(exactly_once, "KAFKA_AWAY_PAUSE", 0.0)
    config = LoopConfig(
        app_id="app",
        bootstrap="127.0.0.1:1",  # nothing is ever sent
        state_dir=tmp_path,
        changelog_topic="app-state-changelog",
        dlq_topic="dlq",
        max_batch=10,
        batch_within=0.0,
        session_timeout=10.0,
        transaction_timeout=10.0,
        name="test",
    )
    loop = TransactionalLoop(config, ["c"])
    seeks = _Seeks()
    loop.consumer = cast(Any, seeks)
    processor = _Deciding(KafkaError(KafkaError._ALL_BROKERS_DOWN, "all brokers down"))
    loop._process(cast(Any, processor), batch(("c", 0, 7), ("c", 0, 8), ("c", 3, 2)))
    assert processor.aborted_batches == 1
    assert positions(seeks.seeks) == {("c", 0, 7), ("c", 3, 2)}

    fatal = _Deciding(KafkaError(KafkaError._FENCED, "fenced", fatal=True))
    with pytest.raises(KafkaException):
        loop._process(cast(Any, fatal), batch(("c", 0, 9)))
    loop.stores.close()


class _FlakyProbe:
    """A consumer whose broker has no partition leader for its first two answers."""

    def __init__(self, _config: Any) -> None:
        self.calls = 0

    def get_watermark_offsets(self, _tp: TopicPartition, timeout: float) -> tuple[int, int]:
        self.calls += 1
        if self.calls <= 2:
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION, "no leader"))
        return 0, 0

    def close(self) -> None:
        pass


def test_the_definitions_feed_asks_for_the_end_again_while_the_broker_has_no_leader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by the dev down/up chaos scenario: a history processor started right after the
    broker came back died on NOT_LEADER_FOR_PARTITION while it read the definitions."""
    monkeypatch.setattr(definitions, "Consumer", _FlakyProbe)
    monkeypatch.setattr(definitions, "PROBE_RETRY_PAUSE", 0.0)
    feed = definitions.DefinitionsFeed("127.0.0.1:1")
    feed._consumer = cast(Any, object())  # as if started; the topic is empty
    feed._partitions = [0]
    assert feed.wait_caught_up(timeout=5)

    monkeypatch.setattr(definitions, "PROBE_RETRY_PAUSE", 10.0)  # past the deadline: raise
    with pytest.raises(KafkaException):
        feed.wait_caught_up(timeout=1)
