"""Publishing to Kafka from the event loop without blocking it.

confluent-kafka's `produce` may block (a full local queue) and its delivery callbacks only
run inside `poll`/`flush`, so the producer lives on threads: `produce` runs on a
one-thread executor and a poller thread serves the callbacks, which settle asyncio futures
through `call_soon_threadsafe`. A handler awaits the broker's acknowledgement, so a 202
means the command is durably on the topic.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from linkflow import transport

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """Kafka did not acknowledge a message."""


class Publisher:
    def __init__(
        self, bootstrap_servers: str, delivery_timeout: float = 15.0, **overrides: Any
    ) -> None:
        # A request should fail within seconds when Kafka is away, not after librdkafka's
        # default five minutes of retries.
        self._delivery_timeout = delivery_timeout
        config = transport.producer_config(
            bootstrap_servers,
            **{"message.timeout.ms": int(delivery_timeout * 1000), **overrides},
        )
        self._producer = Producer(config)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="linkflow-api-produce")
        self._closed = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_loop, name="linkflow-api-delivery", daemon=True
        )
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)

    def _produce(self, topic: str, key: bytes, value: bytes, on_delivery: Any) -> None:
        while True:
            try:
                self._producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                return
            except BufferError:
                self._producer.poll(0.05)  # the local queue is full: let deliveries drain

    async def publish(self, topic: str, key: bytes, value: bytes | None) -> None:
        """Return once the broker has the message; PublishError otherwise."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(err: KafkaError | None) -> None:
            if done.done():
                return
            if err is None:
                done.set_result(None)
            else:
                done.set_exception(PublishError(f"{topic}: {err.str()}"))

        def on_delivery(err: KafkaError | None, _msg: Any) -> None:
            loop.call_soon_threadsafe(settle, err)

        try:
            await loop.run_in_executor(
                self._executor, self._produce, topic, key, value, on_delivery
            )
        except KafkaException as exc:
            raise PublishError(f"{topic}: {exc}") from exc
        # The producer times the message out itself; the margin only guards a lost callback.
        try:
            await asyncio.wait_for(done, self._delivery_timeout + 5)
        except TimeoutError:
            raise PublishError(f"{topic}: no delivery report") from None

    async def topics(self, timeout: float) -> set[str]:
        """Topic names from cluster metadata: the readiness probe's question to Kafka."""
        loop = asyncio.get_running_loop()
        meta = await loop.run_in_executor(None, lambda: self._producer.list_topics(timeout=timeout))
        return set(meta.topics)

    async def close(self, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        remaining = await loop.run_in_executor(self._executor, self._producer.flush, timeout)
        if remaining:
            log.warning("%d message(s) undelivered at shutdown", remaining)
        self._closed.set()
        await loop.run_in_executor(None, self._poller.join)
        self._executor.shutdown(wait=False)
        # Drop the last reference now: librdkafka's threads (and their reconnect attempts
        # to an unreachable broker) end with the handle, not at interpreter exit.
        del self._producer
