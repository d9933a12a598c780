"""`linkflow demo`: the README's main command.

Brings the local stack up (or checks the external one), applies the topic specs, writes one
Avro-encoded history event and reads it back, then prints where everything runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

from linkflow import dev, transport
from linkflow.codec import decode_history, encode_history


def _step(text: str) -> None:
    print(f"==> {text}", flush=True)


def _round_trip(bootstrap: str) -> dict[str, object]:
    from confluent_kafka import Consumer, Producer, TopicPartition

    execution_id = f"demo-{uuid.uuid4().hex[:12]}"
    event = {
        "execution_id": execution_id,
        "event_id": 1,
        "timestamp_ms": int(time.time() * 1000),
        "event_type": "MarkerRecorded",
        "attributes": {"marker_name": "demo", "details": {"hello": "from linkflow demo"}},
    }
    producer = Producer(transport.producer_config(bootstrap))
    delivered: list[tuple[int, int]] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is None:
            delivered.append((msg.partition(), msg.offset()))  # type: ignore[attr-defined]

    producer.produce(
        transport.HISTORY,
        key=execution_id.encode(),
        value=encode_history(event),
        on_delivery=on_delivery,
    )
    if producer.flush(30) or not delivered:
        raise RuntimeError("the history event was not acknowledged by the broker")
    partition, offset = delivered[0]
    consumer = Consumer(transport.consumer_config(bootstrap, f"linkflow-demo-{uuid.uuid4().hex}"))
    consumer.assign([TopicPartition(transport.HISTORY, partition, offset)])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            decoded = decode_history(msg.value())
            if decoded["execution_id"] == execution_id:
                print(
                    f"    wrote and read back {transport.HISTORY}[{partition}]@{offset}: "
                    f"{json.dumps(decoded, default=str)}"
                )
                return decoded
    finally:
        consumer.close()
    raise RuntimeError("the history event did not come back within 30 s")


def _run(args: argparse.Namespace) -> int:
    from linkflow.topics import apply_topics

    _step("bringing the local stack up")
    try:
        stack = dev.up()
    except dev.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _step("applying topics/")
    plan = apply_topics(stack.kafka_bootstrap_servers)
    print("\n".join(f"    {line}" for line in plan.lines()) or "    no changes")
    _step("writing one Avro-encoded history event and reading it back")
    _round_trip(stack.kafka_bootstrap_servers)
    _step("LinkFlow is running")
    print(f"    Kafka bootstrap servers: {stack.kafka_bootstrap_servers}")
    print(f"    PostgreSQL database URL: {stack.database_url}")
    print(f"    state directory:         {stack.state_dir}")
    if not stack.external:
        print("    stop it with: .venv/bin/linkflow dev down")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser("demo", help="bring everything up and run the demo")
    demo.set_defaults(func=_run)
