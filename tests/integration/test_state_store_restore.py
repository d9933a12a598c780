"""Restoring a partition store from its changelog topic on the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer
from test_sink_support import create_topic

from processors.state_store import PartitionStores, restore


def produce(bootstrap: str, topic: str, values: dict[bytes, bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in values.items():
        producer.produce(topic, value, key, partition=0)
    assert producer.flush(30) == 0


@pytest.mark.parametrize(
    ("local", "recorded", "applied", "after"),
    [
        # The store saw the changelog's first record: the rest is applied on top, and a
        # value of its own (not on the changelog yet in this made-up case) stays.
        ({b"a": b"0", b"local": b"x"}, 1, 1, {b"a": b"0", b"b": b"2", b"local": b"x"}),
        # The store of a changelog topic that was deleted and created again: its offset is
        # past the new topic's end, and its values must not survive the restore.
        ({b"a": b"old", b"gone": b"x"}, 904, 2, {b"a": b"1", b"b": b"2", b"gone": None}),
    ],
    ids=["from the recorded offset", "rebuilt when ahead of the changelog"],
)
def test_a_restore_leaves_the_store_equal_to_its_changelog(
    kafka_bootstrap: str,
    tmp_path: Path,
    local: dict[bytes, bytes],
    recorded: int,
    applied: int,
    after: dict[bytes, bytes | None],
) -> None:
    topic = create_topic(kafka_bootstrap, "test.restore", partitions=1)
    produce(kafka_bootstrap, topic, {b"a": b"1", b"b": b"2"})
    stores = PartitionStores(tmp_path)
    stores.get(0).write(local, next_offset=recorded)

    assert restore(stores, kafka_bootstrap, topic, [0]) == {0: applied}

    store = stores.get(0)
    assert {key: store.get(key) for key in after} == after
    assert store.changelog_offset() == 2
