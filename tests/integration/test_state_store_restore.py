"""Restoring a partition store from its changelog topic on the real broker."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import Producer
from test_sink_support import create_topic

from processors.state_store import PartitionStores, restore


def produce(bootstrap: str, topic: str, values: dict[bytes, bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in values.items():
        producer.produce(topic, value, key, partition=0)
    assert producer.flush(30) == 0


def test_a_restore_applies_the_changelog_after_the_recorded_offset(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = create_topic(kafka_bootstrap, "test.restore", partitions=1)
    produce(kafka_bootstrap, topic, {b"a": b"1", b"b": b"2"})
    stores = PartitionStores(tmp_path)
    stores.get(0).write({b"a": b"0", b"local": b"x"}, next_offset=1)

    assert restore(stores, kafka_bootstrap, topic, [0]) == {0: 1}

    store = stores.get(0)
    assert (store.get(b"a"), store.get(b"b"), store.get(b"local")) == (b"0", b"2", b"x")
    assert store.changelog_offset() == 2


def test_a_store_ahead_of_its_changelog_is_rebuilt_from_it(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # The store of a changelog topic that was deleted and created again: its offset is past
    # the new topic's end, and its values must not survive the restore.
    topic = create_topic(kafka_bootstrap, "test.restore", partitions=1)
    produce(kafka_bootstrap, topic, {b"a": b"1", b"b": b"2"})
    stores = PartitionStores(tmp_path)
    stores.get(0).write({b"a": b"old", b"gone": b"x"}, next_offset=904)

    assert restore(stores, kafka_bootstrap, topic, [0]) == {0: 2}

    store = stores.get(0)
    assert (store.get(b"a"), store.get(b"b"), store.get(b"gone")) == (b"1", b"2", None)
    assert store.changelog_offset() == 2
