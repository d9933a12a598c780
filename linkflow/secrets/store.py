"""Reading the `linkflow.credentials` topic whole (for the API's listing) and writing its
records (for the CLI without an API, and tests)."""

from __future__ import annotations

import contextlib
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from linkflow import transport
from linkflow.secrets.records import CredentialError, StoredCredential


def read_credentials(
    bootstrap: str, topic: str, timeout: float = 30.0
) -> dict[str, StoredCredential]:
    """The latest record of every stored credential (deleted ones left out)."""
    consumer = Consumer(
        transport.consumer_config(bootstrap, f"linkflow-credentials-reader-{uuid.uuid4().hex}")
    )
    try:
        partition = TopicPartition(topic, 0)
        low, high = consumer.get_watermark_offsets(partition, timeout=10)
        records: dict[str, StoredCredential] = {}
        if high <= low:
            return records
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        position = low
        while position < high:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} was not read to its end within {timeout:.0f} s")
            for msg in consumer.consume(500, timeout=0.5):
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"reading {topic}: {error}")
                    continue
                name = (msg.key() or b"").decode(errors="replace")
                value = msg.value()
                if not value:
                    records.pop(name, None)
                else:
                    # A record that is not a credential is not listed; the worker logs it.
                    with contextlib.suppress(CredentialError):
                        records[name] = StoredCredential.from_value(value)
                position = msg.offset() + 1
        return records
    finally:
        consumer.close()
