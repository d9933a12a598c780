"""Both Kafka clients LinkFlow uses talk to the pinned broker and agree on the encoding.

confluent-kafka is the workers' and tools' client; aiokafka is the transport under
faust-streaming. An Avro-encoded history event goes out through one and comes back
through the other.
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from linkflow.codec import decode_history, encode_history


def _topic(bootstrap: str) -> str:
    name = f"test.clients.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(30)
    return name


def _event(execution_id: str, event_id: int) -> dict[str, object]:
    return {
        "execution_id": execution_id,
        "event_id": event_id,
        "timestamp_ms": 1_760_000_000_000 + event_id,
        "event_type": "TimerStarted",
        "attributes": {
            "timer_id": f"{execution_id}/t{event_id}",
            "fire_at_ms": 1_760_000_001_000,
            "purpose": "wait",
            "node_id": "pause",
            "scope": "",
        },
    }


def test_confluent_producer_to_aiokafka_consumer(kafka_bootstrap: str) -> None:
    topic = _topic(kafka_bootstrap)
    sent = _event("exec-confluent", 1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=b"exec-confluent", value=encode_history(sent))
    assert producer.flush(30) == 0

    async def consume() -> tuple[bytes | None, bytes]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"g-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), 60)
            await consumer.commit()
            return record.key, record.value
        finally:
            await consumer.stop()

    key, value = asyncio.run(consume())
    assert key == b"exec-confluent"
    decoded = decode_history(value)
    assert decoded["event_type"] == "TimerStarted"
    assert decoded["attributes"]["timer_id"] == "exec-confluent/t1"
    assert decoded["execution_id"] == sent["execution_id"]


def test_aiokafka_transactional_producer_to_confluent_consumer(kafka_bootstrap: str) -> None:
    topic = _topic(kafka_bootstrap)

    async def produce() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap,
            transactional_id=f"tx-{uuid.uuid4().hex[:6]}",
        )
        await producer.start()
        try:
            async with producer.transaction():
                await producer.send_and_wait(
                    topic, encode_history(_event("exec-aio", 2)), key=b"exec-aio"
                )
        finally:
            await producer.stop()

    asyncio.run(produce())
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"g-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(60):  # poll up to ~60 s for the committed record
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None
        decoded = decode_history(message.value())
        assert decoded["event_id"] == 2
        assert decoded["attributes"]["purpose"] == "wait"
    finally:
        consumer.close()
