"""Reading and requeueing dead letters (`linkflow dlq list | requeue`).

A dead letter keeps the original key, value and headers of the record that could not be
processed, plus `linkflow.dlq.*` headers saying why and where it came from (`linkflow.dlq`).
Requeueing produces the original record again to its source topic, once the cause is fixed
(a definition registered, a bug deployed away); the dead letter itself stays, as a log.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from linkflow import transport
from linkflow.dlq import DeadLetterInfo, read_dead_letter_headers, without_dead_letter_headers


@dataclass(frozen=True)
class DeadLetter:
    partition: int  # of the DLQ topic
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    info: DeadLetterInfo

    @property
    def ref(self) -> str:
        """How `requeue` names it: `<dlq partition>:<dlq offset>`."""
        return f"{self.partition}:{self.offset}"

    def to_json(self) -> dict[str, Any]:
        info = self.info
        return {
            "ref": self.ref,
            "reason": info.reason,
            "error_type": info.error_type,
            "detail": info.detail,
            "source": {"topic": info.topic, "partition": info.partition, "offset": info.offset},
            "failed_at_ms": info.failed_at_ms,
            "key": self.key.decode(errors="replace") if self.key is not None else None,
            "value_bytes": len(self.value or b""),
        }


def read_dead_letters(bootstrap: str, topic: str, timeout: float = 30.0) -> list[DeadLetter]:
    """Every record of the DLQ topic, read from the beginning to the current end."""
    consumer = Consumer(
        transport.consumer_config(
            bootstrap, f"linkflow-dlq-reader-{uuid.uuid4().hex}", **{"enable.partition.eof": True}
        )
    )
    try:
        meta = consumer.list_topics(topic, timeout=10)
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            raise LookupError(f"topic {topic} does not exist: run `linkflow topics apply`")
        partitions = sorted(found.partitions)
        ends: dict[int, int] = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        letters: list[DeadLetter] = []
        done: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(done) < len(ends):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} was not read to its end within {timeout:.0f} s")
            for msg in transport.fetched(consumer, 500, 0.5):
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"reading {topic}: {msg.error()}")
                    done.add(msg.partition())
                    continue
                headers = list(msg.headers() or [])
                letters.append(
                    DeadLetter(
                        msg.partition(),
                        msg.offset(),
                        msg.key(),
                        msg.value(),
                        headers,
                        read_dead_letter_headers(headers),
                    )
                )
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        return sorted(letters, key=lambda d: (d.info.failed_at_ms or 0, d.partition, d.offset))
    finally:
        consumer.close()


def requeue(bootstrap: str, letters: Iterable[DeadLetter], timeout: float = 30.0) -> int:
    """Produce each letter's original record to its source topic; how many were sent."""
    producer = Producer(transport.producer_config(bootstrap))
    sent = 0
    for letter in letters:
        if not letter.info.topic:
            raise ValueError(f"dead letter {letter.ref} does not say where it came from")
        producer.produce(
            letter.info.topic,
            key=letter.key,
            value=letter.value,
            headers=without_dead_letter_headers(letter.headers),
        )
        sent += 1
    left = producer.flush(timeout)
    if left:
        raise TimeoutError(f"{left} record(s) not delivered within {timeout:.0f} s")
    return sent
