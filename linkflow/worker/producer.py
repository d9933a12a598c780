"""A confluent-kafka Producer usable from asyncio: `await produce(...)` resolves once the
broker acknowledged the message.

`Producer.produce` only enqueues and never blocks (BufferError when the local queue is
full), so it is called on the loop; delivery reports are served by a small thread calling
`poll`, and handed back to the loop with `call_soon_threadsafe`, all the reports of one
`poll` in one call: a call per report woke the loop once per result (tests/bench/
worker_bench.py: 102-126 us of CPU per noop task before, 94-115 us after).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

log = logging.getLogger(__name__)

DeliveryCallback = Callable[[KafkaError | None, Message], None]

# How long the poll thread blocks per call: bounds the delay of stop(), not of deliveries
# (poll returns as soon as a report is ready).
# Produce errors retrying cannot fix (the message itself, or the topic, is the problem).
PERMANENT_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_RECORD,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError._INVALID_ARG,
    }
)

_POLL_S = 0.1
_BUFFER_FULL_BACKOFF_S = 0.005


class AsyncProducer:
    def __init__(self, config: dict[str, Any], *, name: str = "producer") -> None:
        self.raw = Producer(config)
        # Reports served by poll (or flush) and not yet handed to their loops. Appended to
        # by whichever thread serves reports and drained by `_hand_over` from either thread:
        # deque's append and popleft are atomic, so no report is lost or handed over twice.
        self._settled: deque[_Settled] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, name=f"linkflow-{name}-poll", daemon=True
        )
        self._thread.start()
        self._closed = False

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.raw.poll(_POLL_S)
            self._hand_over()

    def _hand_over(self) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Settled]] = {}
        settled = self._settled
        while settled:
            try:
                item = settled.popleft()
            except IndexError:  # the other thread took the last one
                break
            by_loop.setdefault(item[0], []).append(item)
        for loop, items in by_loop.items():
            # RuntimeError: the loop is gone, so nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, items)

    async def send(self, produce: Callable[[DeliveryCallback], None]) -> Message:
        """Call `produce(on_delivery)` (a wrapper around `raw.produce`) and wait for the ack.

        Raises KafkaException when the broker rejects the message or it times out."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            self._settled.append((loop, future, err, msg))

        await self._enqueue(lambda: produce(on_delivery))
        return await future

    async def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> Message:
        """Produce and wait until the broker acknowledged the message."""
        return await self.send(
            lambda cb: self.raw.produce(
                topic, value=value, key=key, headers=headers, on_delivery=cb
            )
        )

    async def produce_nowait(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        """Enqueue without waiting for the ack; a failed delivery is logged."""
        await self._enqueue(
            lambda: self.raw.produce(
                topic, value=value, key=key, headers=headers, on_delivery=_log_failure
            )
        )

    async def _enqueue(self, call: Callable[[], None]) -> None:
        while True:
            try:
                call()
                return
            except BufferError:
                # The local queue is full: wait for the poll thread to drain deliveries.
                await asyncio.sleep(_BUFFER_FULL_BACKOFF_S)

    async def flush(self, timeout: float = 30.0) -> int:
        """Wait (off the loop) until queued messages are delivered; returns how many remain."""
        loop = asyncio.get_running_loop()
        remaining = int(await loop.run_in_executor(None, self.raw.flush, timeout))
        self._hand_over()  # flush serves reports too
        return remaining

    async def aclose(self, timeout: float = 30.0) -> int:
        """Flush and stop the poll thread; returns the number of messages left undelivered."""
        if self._closed:
            return 0
        self._closed = True
        remaining = await self.flush(timeout)
        self._stop.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        return remaining


def kafka_error(exc: KafkaException) -> KafkaError | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None


def is_permanent(exc: KafkaException) -> bool:
    error = kafka_error(exc)
    return error is not None and error.code() in PERMANENT_ERRORS


_Settled = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Message]", KafkaError | None, Message]


def _settle_all(items: list[_Settled]) -> None:
    for _loop, future, err, msg in items:
        if future.done():
            continue
        if err is not None:
            future.set_exception(KafkaException(err))
        else:
            future.set_result(msg)


def _log_failure(err: KafkaError | None, msg: Message) -> None:
    if err is not None:
        log.warning("delivery to %s failed: %s", msg.topic(), err)
