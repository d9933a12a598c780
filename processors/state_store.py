"""The history processor's state: one RocksDB store (rocksdict) per input partition this
instance owns, each the local copy of one partition of a compacted changelog topic.

    stores = PartitionStores(datadir / "executions")
    restore(stores, bootstrap, changelog_topic, [0, 3])   # on assignment
    stores.get(3).get(b"exec-1")
    stores.get(3).write({b"exec-1": value}, next_offset=812)   # after the Kafka commit

The changelog, not the store, is what counts: the processor produces every new value to the
changelog inside the same Kafka transaction as the history events and input offsets it
belongs with, and writes the store only once that transaction has committed. So a store
never holds a value Kafka could still abort, and anything it lacks (a crash between the
commit and the store write, a partition last owned by another instance) is on the changelog
after the offset the store last recorded. As in quix-streams' state stores, that offset (the
next changelog offset to read) is written in the same RocksDB write batch as the values, so
the two never disagree; a restore reads from it to the end of the partition and applies what
it finds in order, which leaves every key at its latest committed value. A recorded offset
lower than the truth only makes a restore read more; it is never higher.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from rocksdict import Options, Rdict, WriteBatch

from linkflow import transport

log = logging.getLogger(__name__)

# Keys of our own; execution ids never start with a NUL byte.
OFFSET_KEY = b"\x00changelog-offset"
RESTORE_TIMEOUT = 300.0
KAFKA_TIMEOUT = 30.0


class PartitionStore:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self.path = path
        self._db = Rdict(str(path), options)

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def iter(self) -> Any:
        """A raw rocksdict iterator (seek, valid, key, value, next)."""
        return self._db.iter()

    def keys_from(self, start: bytes) -> Iterator[bytes]:
        """Keys in byte order from `start` on."""
        it = self._db.iter()
        it.seek(start)
        while it.valid():
            yield it.key()
            it.next()

    def estimated_keys(self) -> int:
        return int(self._db.property_int_value("rocksdb.estimate-num-keys") or 0)

    def changelog_offset(self) -> int:
        """The next changelog offset this store has not seen (0: nothing yet)."""
        raw = self._db.get(OFFSET_KEY)
        return int(raw) if raw is not None else 0

    def write(self, values: Mapping[bytes, bytes | None], next_offset: int | None) -> None:
        """Apply `values` (None deletes) and record `next_offset` atomically."""
        batch = WriteBatch(raw_mode=True)
        for key, value in values.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if next_offset is not None:
            batch.put(OFFSET_KEY, str(next_offset).encode())
        self._db.write(batch)

    def close(self) -> None:
        self._db.close()


class PartitionStores:
    """The stores under `root`, one directory per partition, opened on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._open: dict[int, PartitionStore] = {}

    def get(self, partition: int) -> PartitionStore:
        store = self._open.get(partition)
        if store is None:
            store = self._open[partition] = PartitionStore(self.root / f"p{partition}")
        return store

    def reset(self, partition: int) -> PartitionStore:
        """Empty the store of `partition` (values and recorded offset)."""
        store = self._open.pop(partition, None)
        if store is not None:
            store.close()
        path = self.root / f"p{partition}"
        if path.exists():
            Rdict.destroy(str(path))
        return self.get(partition)

    def close(self) -> None:
        for store in self._open.values():
            store.close()
        self._open.clear()


def restore(
    stores: PartitionStores,
    bootstrap: str,
    topic: str,
    partitions: Iterable[int],
    timeout: float = RESTORE_TIMEOUT,
) -> dict[int, int]:
    """Bring the stores of `partitions` up to the end of their changelog partitions
    (committed records only); how many records each one applied."""
    wanted = sorted(partitions)
    if not wanted:
        return {}
    starts = {p: stores.get(p).changelog_offset() for p in wanted}
    consumer = Consumer(
        transport.consumer_config(
            bootstrap,
            f"linkflow-restore-{uuid.uuid4().hex}",  # never commits: a group of its own
            **{"enable.partition.eof": True, "fetch.wait.max.ms": 10},
        )
    )
    applied = dict.fromkeys(wanted, 0)
    pending: dict[int, dict[bytes, bytes | None]] = {p: {} for p in wanted}
    deadline = time.monotonic() + timeout
    try:
        for p in wanted:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=KAFKA_TIMEOUT, cached=False
            )
            if starts[p] > high or 0 < starts[p] < low:
                # The store was built from another incarnation of the topic (deleted and
                # created again) or records it never saw are gone: restoring on top of it
                # would keep values the changelog no longer has.
                log.warning(
                    "store of %s[%d] recorded offset %d outside the partition's %d..%d: "
                    "rebuilding it from the changelog",
                    topic,
                    p,
                    starts[p],
                    low,
                    high,
                )
                stores.reset(p)
                starts[p] = 0
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in wanted])
        open_partitions = set(wanted)
        while open_partitions:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"restoring {topic} partitions {sorted(open_partitions)} took over {timeout}s"
                )
            for msg in consumer.consume(10_000, 0.5):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        open_partitions.discard(msg.partition())
                        continue
                    raise RuntimeError(f"restoring {topic}[{msg.partition()}]: {error}")
                partition = msg.partition()
                key = msg.key()
                if key is None or key == OFFSET_KEY:
                    continue
                pending[partition][key] = msg.value()
                applied[partition] += 1
        # The position is past the last record and the transaction markers after it.
        positions = consumer.position([TopicPartition(topic, p) for p in wanted])
        for tp in positions:
            next_offset = tp.offset if tp.offset >= 0 else starts[tp.partition]
            stores.get(tp.partition).write(pending[tp.partition], next_offset)
    finally:
        consumer.close()
    return applied
