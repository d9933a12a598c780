"""Send history records the sink cannot project to the dead-letter topic.

The record goes out unchanged (same key, value and headers) with the `linkflow.dlq.*` headers
of `linkflow.dlq` saying why and where it came from, so `linkflow dlq` can show and requeue it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, Producer

from linkflow import dlq, transport

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]
    reason: str  # short and stable, e.g. "bad_marker", "empty", "unprojectable"
    error_type: str
    detail: str


class DeadLetterWriter:
    """Produces dead letters and waits for the broker's acknowledgement, so the sink only
    moves its offset past a record once the record is safe in the DLQ."""

    def __init__(self, bootstrap: str, topic: str = transport.DLQ) -> None:
        self.topic = topic
        self._producer = Producer(transport.producer_config(bootstrap, **{"linger.ms": 0}))

    def send(self, letters: Sequence[DeadLetter], timeout: float = 30.0) -> None:
        failures: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                failures.append(str(err))

        for letter in letters:
            dlq.produce_dead_letter(
                self._producer,
                letter.value,
                key=letter.key,
                reason=letter.reason,
                topic=letter.topic,
                partition=letter.partition,
                offset=letter.offset,
                error_type=letter.error_type,
                detail=letter.detail,
                original_headers=letter.headers,
                dlq_topic=self.topic,
                on_delivery=on_delivery,
            )
        remaining = self._producer.flush(timeout)
        if remaining or failures:
            raise KafkaException(
                f"dead letters not acknowledged ({remaining} pending, errors: {failures[:3]})"
            )
        for letter in letters:
            log.warning(
                "dead-lettered %s[%d]@%d: %s: %s",
                letter.topic,
                letter.partition,
                letter.offset,
                letter.reason,
                letter.detail,
            )

    def close(self) -> None:
        self._producer.flush(10)
