"""The worker: runs the activity tasks of one queue and reports their results.

Threads and loop:
- a consumer thread (linkflow.worker.consumer) owns the Kafka consumer: it fetches tasks,
  commits offsets and serves rebalances;
- the asyncio loop runs up to `concurrency` activities at once, from any partitions (also
  several from one partition), and produces results;
- a producer thread serves delivery reports; sync handlers run in a thread pool.

An activity's offset counts as finished only once its final result (ActivityCompleted or
ActivityFailed) is acknowledged by the broker, so a crash at any point re-runs the task
rather than losing it. ActivityStarted and heartbeats are fire-and-forget: the history
processor treats them as advisory. For tasks with `heartbeat_ms` the worker sends
ActivityHeartbeat every heartbeat_ms/3 while the handler runs, carrying the latest details
the handler gave `ctx.heartbeat()` (so a heartbeat proves the worker alive, and the details
show the handler's progress).

Shutdown (`request_stop`): stop fetching, let running activities finish for up to
`drain_timeout` seconds, cancel the rest (they are not reported, not committed and will be
re-run elsewhere), commit the completed prefix, flush, leave the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaException

from linkflow import dlq, transport
from linkflow.codec import DecodeError, EncodeError, decode_task
from linkflow.quotas import quotas_from_environment
from linkflow.secrets import laravel
from linkflow.secrets.laravel import ENV_APP_KEY
from linkflow.transport import MAX_PAYLOAD_BYTES, STARTED_REPORT_DELAY, payload_bytes
from linkflow.worker import messages
from linkflow.worker.consumer import Fetched, TaskConsumer
from linkflow.worker.context import ActivityContext, Resources
from linkflow.worker.execute import Outcome, execute, heartbeat_interval, heartbeat_loop
from linkflow.worker.metrics import (
    ACTIVITIES,
    ACTIVITY_DURATION,
    DEAD_LETTERS,
    IN_FLIGHT,
    UNKNOWN_NODE_TYPE_LABEL,
)
from linkflow.worker.producer import AsyncProducer, is_permanent, kafka_error
from linkflow.worker.rate_limit import TokenBucket, WorkspaceRates
from linkflow.worker.registry import HandlerRegistry, build_registry
from linkflow.worker.slots import PrioritySlots

log = logging.getLogger(__name__)

_REPORT_BACKOFF_S = (0.1, 5.0)  # first and longest pause between attempts to report a result
# Tasks held beyond `concurrency`. Each time the buffer fills, fetching pauses, and pausing
# drops librdkafka's prefetched data: with 1000, a backlog of noop tasks ran at ~2.4k/s, with
# 5000 at ~7.4k/s (one process, 200 concurrent, local broker).
_DEFAULT_PREFETCH = 5000
CANCEL_TASK = "CancelActivityTask"
SHARED_STATE_WAIT = 10.0  # seconds a starting worker waits to read the circuits topic
# Cancelled attempts remembered, for a cancel that arrives before its attempt started.
_CANCELED_REMEMBERED = 10_000


def default_identity() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


@dataclass
class WorkerConfig:
    queue: str
    bootstrap_servers: str
    concurrency: int = 10
    drain_timeout: float = 30.0
    # Prepended to every topic and the group id, as `linkflow topics apply --prefix` does.
    topic_prefix: str = ""
    identity: str = field(default_factory=default_identity)
    # Tasks fetched beyond `concurrency` and held until a slot frees (None: the larger of
    # 5000 and 4 x concurrency), and a bound on their bytes. Held tasks are not committed,
    # so a crash or drain only means they are fetched again.
    prefetch: int | None = None
    prefetch_bytes: int = 64 * 1024 * 1024
    commit_interval: float = 0.2
    # Attempts this process starts per second at most (None: no limit); see rate_limit.py.
    rate_limit: float | None = None
    # An attempt reports ActivityStarted once its handler has run this long (seconds), so a
    # quick attempt sends one result instead of two; at once when the engine needs the start
    # (a schedule-to-start or heartbeat limit). 0: always at once.
    started_report_delay: float = STARTED_REPORT_DELAY
    consumer_overrides: dict[str, Any] = field(default_factory=dict)
    producer_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.drain_timeout < 0:
            raise ValueError(f"drain timeout must not be negative, got {self.drain_timeout}")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError(f"the rate limit must be positive, got {self.rate_limit}")

    @property
    def task_topic(self) -> str:
        return self.topic_prefix + transport.task_topic(self.queue)

    @property
    def results_topic(self) -> str:
        return self.topic_prefix + transport.RESULTS

    @property
    def dlq_topic(self) -> str:
        return self.topic_prefix + transport.DLQ

    @property
    def group_id(self) -> str:
        return f"{self.topic_prefix}linkflow-worker-{self.queue}"


@dataclass
class WorkerStats:
    started: int = 0
    completed: int = 0
    failed: int = 0
    timed_out: int = 0
    dead_lettered: int = 0
    canceled: int = 0  # stopped or skipped by a CancelActivityTask; no result sent
    dropped: int = 0  # fetched but not started (drain or revocation): fetched again later
    abandoned: int = 0  # still running when the drain timeout ran out: run again later
    running_seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.completed} completed, {self.failed} failed "
            f"({self.timed_out} timed out), {self.canceled} cancelled, "
            f"{self.dead_lettered} dead-lettered, "
            f"{self.dropped} not started, {self.abandoned} abandoned at drain "
            f"in {self.running_seconds:.1f} s"
        )


class WorkerError(RuntimeError):
    """The worker stopped because Kafka failed fatally."""


class Worker:
    def __init__(self, config: WorkerConfig, registry: HandlerRegistry | None = None) -> None:
        # A copy: a caller reusing its config object for another worker must not change ours.
        self.config = dataclasses.replace(config)
        self.registry = registry if registry is not None else build_registry()
        self.stats = WorkerStats()
        self.ready = threading.Event()  # set once the consumer is running (for tests, CLI)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early_stop: bool | None = None  # a stop requested before run() began
        self._stop = asyncio.Event()
        self._hard = asyncio.Event()
        self._draining = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: dict[asyncio.Task[Any], Fetched] = {}  # tasks waiting for a slot
        self._failure: BaseException | None = None
        self._followers: list[_Stoppable] = []
        self._bucket = TokenBucket(config.rate_limit) if config.rate_limit else None
        quotas = quotas_from_environment()
        self._workspace_rates = (
            WorkspaceRates(quotas, lambda: self.consumer.share)
            if quotas.limits_activities
            else None
        )
        # Attempts running now, and attempts a CancelActivityTask named (oldest first).
        self._running: dict[tuple[str, str, int], asyncio.Task[Outcome]] = {}
        self._canceled: OrderedDict[tuple[str, str, int], str] = OrderedDict()
        self._consumer: TaskConsumer | None = None

    @property
    def consumer(self) -> TaskConsumer:
        assert self._consumer is not None, "the worker is not running"
        return self._consumer

    def request_stop(self, *, hard: bool = False) -> None:
        """Begin a graceful drain (or, with `hard`, cancel running activities now).

        Safe to call from any thread and from signal handlers."""
        loop = self._loop
        if loop is None:
            self._early_stop = hard or bool(self._early_stop)
            return
        # RuntimeError: the loop has already closed, so there is nothing left to stop.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._on_stop, hard)

    def _on_stop(self, hard: bool) -> None:
        self._stop.set()
        if hard:
            self._hard.set()

    async def run(self) -> WorkerStats:
        """Run until `request_stop()` (or a fatal Kafka error); returns the statistics."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        began = time.monotonic()
        self._slots = PrioritySlots(cfg.concurrency)
        self._executor = ThreadPoolExecutor(cfg.concurrency, thread_name_prefix="linkflow-activity")
        self._resources = Resources()
        self._producer = AsyncProducer(
            transport.producer_config(cfg.bootstrap_servers, **cfg.producer_overrides),
            name="results",
        )
        prefetch = (
            max(_DEFAULT_PREFETCH, 4 * cfg.concurrency) if cfg.prefetch is None else cfg.prefetch
        )
        self._consumer = TaskConsumer(
            transport.consumer_config(
                cfg.bootstrap_servers, cfg.group_id, **cfg.consumer_overrides
            ),
            cfg.task_topic,
            extra_topics=[cfg.task_topic + transport.HIGH_SUFFIX],
            deliver=self._deliver_threadsafe,
            on_fatal=self._fatal_threadsafe,
            on_revoked=self._revoked_threadsafe,
            high_water=cfg.concurrency + max(prefetch, 0),
            max_bytes=cfg.prefetch_bytes,
            commit_interval=cfg.commit_interval,
        )
        self._loop = loop
        # Before the first task: the circuits other workers opened must apply to it.
        self._followers = await loop.run_in_executor(None, self._follow_shared_state)
        if self._early_stop is not None:
            self._on_stop(self._early_stop)
        self._consumer.start()
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            await self._shutdown()
            self.stats.running_seconds = time.monotonic() - began
        if self._failure is not None:
            raise WorkerError(f"the worker stopped: {self._failure}") from self._failure
        return self.stats

    # ---- tasks in ----------------------------------------------------------------------

    def _deliver_threadsafe(self, batch: list[Fetched]) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._accept, batch)

    def _fatal_threadsafe(self, exc: BaseException) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def fail() -> None:
            self._failure = self._failure or exc
            self._on_stop(hard=True)

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fail)

    def _accept(self, batch: list[Fetched]) -> None:
        for item in batch:
            if self._draining:
                self.stats.dropped += 1
                self.consumer.done(item, finished=False)
                continue
            task = asyncio.get_running_loop().create_task(self._handle(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, item: Fetched) -> None:
        finished = False
        try:
            if not item.value:
                await self._dead_letter(item, "empty", "EmptyMessage", "the message has no value")
                finished = True
                return
            try:
                message = decode_task(item.value)
                if message.get("task_type") == CANCEL_TASK:
                    self._cancel_attempt(message)
                    finished = True
                    return
                task = messages.ActivityTask.from_message(message)
            except DecodeError as exc:
                await self._dead_letter(item, str(exc.reason), type(exc).__name__, str(exc))
                finished = True
                return
            if self._workspace_rates is not None:
                # Before a slot: a workspace over its rate must not hold the slots that
                # other workspaces' tasks could use.
                await self._workspace_rates.acquire(task.workspace)
            if not await self._acquire_slot(item):
                self.stats.dropped += 1  # the partition's next owner (or a restart) runs it
                return
            try:
                await self._run(task)
                finished = True
            finally:
                self._slots.release()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug in the worker itself: leave the offset unfinished so the task is re-run.
            log.exception("handling the task at %s failed", _describe(item))
        finally:
            self.consumer.done(item, finished=finished)

    async def _acquire_slot(self, item: Fetched) -> bool:
        """Wait for a free slot; False when the task must not start (draining, revoked)."""
        me = asyncio.current_task()
        assert me is not None
        self._waiting[me] = item
        try:
            await self._slots.acquire(item.topic.endswith(transport.HIGH_SUFFIX))
        except asyncio.CancelledError:
            if self._draining or item.offsets.revoked:
                return False  # cancelled by _drop_waiting, not by whoever awaits us
            raise
        finally:
            del self._waiting[me]
        if self._draining or item.offsets.revoked:
            self._slots.release()
            return False
        return True

    def _drop_waiting(self) -> None:
        """Cancel the tasks still waiting for a slot that may no longer start: all of them
        when draining, else those of revoked partitions."""
        for waiting, item in list(self._waiting.items()):
            if self._draining or item.offsets.revoked:
                waiting.cancel()

    def _revoked_threadsafe(self) -> None:
        with contextlib.suppress(RuntimeError):
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._drop_waiting)

    # ---- running an activity -----------------------------------------------------------

    def _follow_shared_state(self) -> list[_Stoppable]:
        cfg = self.config
        followers = (
            follow_stored_credentials(cfg.bootstrap_servers, cfg.topic_prefix),
            share_circuits(
                cfg.bootstrap_servers, cfg.topic_prefix, self._producer.raw, cfg.identity
            ),
        )
        return [f for f in followers if f is not None]

    def _cancel_attempt(self, message: dict[str, Any]) -> None:
        """A CancelActivityTask: cancel the attempt's handler if it runs here, and remember
        it so the attempt is skipped if it has not started yet (it comes first on the
        partition, but may still wait for a slot)."""
        key = (str(message["execution_id"]), str(message["activity_id"]), int(message["attempt"]))
        self._canceled[key] = str(message.get("reason") or "canceled")
        while len(self._canceled) > _CANCELED_REMEMBERED:
            self._canceled.popitem(last=False)
        running = self._running.get(key)
        if running is not None:
            log.info("cancelling %s/%s#%d: %s", *key, self._canceled[key])
            running.cancel()

    async def _run(self, task: messages.ActivityTask) -> None:
        cfg = self.config
        spec = self.registry.get(task.node_type)
        label = task.node_type if spec is not None else UNKNOWN_NODE_TYPE_LABEL
        key = (task.execution_id, task.activity_id, task.attempt)
        if self._bucket is not None:
            await self._bucket.acquire()
        if key in self._canceled:
            # Cancelled before it started: the engine recorded that; nothing to report.
            self.stats.canceled += 1
            ACTIVITIES.labels(label, "canceled").inc()
            return
        ctx = ActivityContext(
            execution_id=task.execution_id,
            activity_id=task.activity_id,
            attempt=task.attempt,
            node_id=task.node_id,
            node_type=task.node_type,
            scope=task.scope,
            workflow_id=task.workflow_id,
            workflow_version=task.workflow_version,
            deadline=(
                time.monotonic() + task.start_to_close_ms / 1000 if task.start_to_close_ms else None
            ),
            heartbeat_ms=task.heartbeat_ms,
            kafka_bootstrap=cfg.bootstrap_servers,
            resources=self._resources,
        )
        report = None
        if task.reports_start_at_once or cfg.started_report_delay <= 0:
            await self._producer.produce_nowait(
                cfg.results_topic, messages.started(task, cfg.identity, _now_ms()), task.key
            )
        else:
            report = self._report_started_later(task)
        self.stats.started += 1
        IN_FLIGHT.inc()
        began = time.monotonic()
        beat = None
        if task.heartbeat_ms:
            beat = asyncio.get_running_loop().create_task(
                heartbeat_loop(
                    ctx,
                    heartbeat_interval(task.heartbeat_ms),
                    lambda details: self._heartbeat(task, details),
                )
            )
        runner = asyncio.get_running_loop().create_task(
            execute(
                spec,
                ctx,
                task.input,
                timeout_ms=task.start_to_close_ms,
                executor=self._executor,
                known=self.registry.names,
            )
        )
        self._running[key] = runner
        try:
            outcome = await runner
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise  # this worker is stopping: the attempt runs again elsewhere
            # A CancelActivityTask stopped the handler: the engine already recorded the
            # attempt as cancelled or timed out, so no result is sent.
            self.stats.canceled += 1
            ACTIVITIES.labels(label, "canceled").inc()
            ACTIVITY_DURATION.labels(label, "canceled").observe(time.monotonic() - began)
            return
        finally:
            self._running.pop(key, None)
            if beat is not None:
                beat.cancel()
            if report is not None:
                report.cancel()  # quick: the outcome says who ran it
            IN_FLIGHT.dec()
        measured = messages.Measured(dict(ctx.usage), round((time.monotonic() - began) * 1000))
        value, outcome = self._encode(task, outcome, measured)
        what = f"the result of {task.execution_id}/{task.activity_id}#{task.attempt}"
        try:
            await self._reliably(
                lambda: self._producer.produce(cfg.results_topic, value, task.key), what
            )
        except KafkaException as exc:
            if not is_permanent(exc):
                raise  # fatal: the worker is stopping
            # Kafka refuses this result for good (too large, most likely): report that instead,
            # or the task would be re-run forever.
            error = messages.rejected(len(value), exc)
            outcome = Outcome(error=error)
            small = messages.failed(task, error, cfg.identity, _now_ms(), measured)
            await self._reliably(
                lambda: self._producer.produce(cfg.results_topic, small, task.key), what
            )
        ACTIVITY_DURATION.labels(label, outcome.label).observe(time.monotonic() - began)
        ACTIVITIES.labels(label, outcome.label).inc()
        if outcome.ok:
            self.stats.completed += 1
        else:
            self.stats.failed += 1
            self.stats.timed_out += outcome.timed_out

    def _report_started_later(self, task: messages.ActivityTask) -> asyncio.TimerHandle:
        """ActivityStarted once the handler has run `started_report_delay` seconds (the
        handle: cancelled when the attempt ends first, its outcome naming the worker). A
        start that arrives after the outcome is ignored by the engine as stale."""
        cfg = self.config

        def send() -> None:
            value = messages.started(task, cfg.identity, _now_ms())
            sending = asyncio.get_running_loop().create_task(
                self._producer.produce_nowait(cfg.results_topic, value, task.key)
            )
            self._tasks.add(sending)
            sending.add_done_callback(self._tasks.discard)

        return asyncio.get_running_loop().call_later(cfg.started_report_delay, send)

    def _encode(
        self,
        task: messages.ActivityTask,
        outcome: Outcome,
        measured: messages.Measured = messages.NOT_MEASURED,
    ) -> tuple[bytes, Outcome]:
        identity, now = self.config.identity, _now_ms()
        if outcome.ok:
            try:
                value = messages.completed(task, outcome.result, identity, now, measured)
            except EncodeError as exc:
                outcome = Outcome(error=messages.not_serializable(outcome.result, exc))
            else:
                # The record carries the result's JSON, so a small record needs no measuring.
                if len(value) <= MAX_PAYLOAD_BYTES:
                    return value, outcome
                size = payload_bytes(outcome.result)
                if size <= MAX_PAYLOAD_BYTES:
                    return value, outcome
                outcome = Outcome(error=messages.too_large(size))
        assert outcome.error is not None
        return messages.failed(task, outcome.error, identity, now, measured), outcome

    def _heartbeat(self, task: messages.ActivityTask, details: Any) -> None:
        value = messages.heartbeat(task, details, self.config.identity, _now_ms())
        try:
            self._producer.raw.produce(
                self.config.results_topic, value=value, key=task.key, on_delivery=_log_failed
            )
        except (BufferError, KafkaException) as exc:
            # A missed beat is covered by the next one; the activity must not fail for it.
            log.warning("heartbeat of %s/%s skipped: %r", task.execution_id, task.node_id, exc)

    async def _dead_letter(self, item: Fetched, reason: str, error_type: str, detail: str) -> None:
        cfg = self.config

        def produce(on_delivery: Callable[[Any, Any], None]) -> None:
            dlq.produce_dead_letter(
                self._producer.raw,
                item.value,
                key=item.key,
                reason=reason,
                topic=item.topic,
                partition=item.partition,
                offset=item.offset,
                error_type=error_type,
                detail=detail,
                original_headers=item.headers,
                dlq_topic=cfg.dlq_topic,
                on_delivery=on_delivery,
            )

        await self._reliably(
            lambda: self._producer.send(produce), f"dead letter of {_describe(item)}"
        )
        self.stats.dead_lettered += 1
        DEAD_LETTERS.labels(reason).inc()
        log.warning("undecodable task at %s sent to %s: %s", _describe(item), cfg.dlq_topic, detail)

    async def _reliably(self, send: Callable[[], Awaitable[Any]], what: str) -> None:
        """Retry until the broker acknowledges: the offset must not be finished before.
        Errors no retry can fix are raised."""
        delay, longest = _REPORT_BACKOFF_S
        while True:
            try:
                await send()
                return
            except KafkaException as exc:
                error = kafka_error(exc)
                if error is not None and error.fatal():
                    # The idempotent producer cannot go on: stop rather than retry forever.
                    self._failure = self._failure or exc
                    self._on_stop(hard=True)
                    raise
                if is_permanent(exc):
                    raise
                log.warning("producing %s failed, retrying in %.1f s: %s", what, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    # ---- shutdown ----------------------------------------------------------------------

    async def _shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        self._draining = True
        consumer = self.consumer
        consumer.begin_drain()
        self._drop_waiting()
        running = set(self._tasks)
        if running and not self._hard.is_set():
            all_done = loop.create_task(asyncio.wait(running))
            hard = loop.create_task(self._hard.wait())
            await asyncio.wait(
                {all_done, hard}, timeout=self.config.drain_timeout, return_when="FIRST_COMPLETED"
            )
            all_done.cancel()  # stops waiting; does not cancel the activities
            hard.cancel()
        if self._tasks:
            stats = self.stats
            stats.abandoned += stats.started - stats.completed - stats.failed
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        consumer.stop()
        await loop.run_in_executor(None, consumer.join)
        left = await self._producer.aclose()
        if left:
            log.warning("%d messages (heartbeats or Started) were not delivered", left)
        try:
            await self._resources.aclose()
        except Exception:
            log.exception("closing handler resources failed")
        self._executor.shutdown(wait=False, cancel_futures=True)
        for follower in self._followers:
            await loop.run_in_executor(None, follower.stop)


class _Stoppable(Protocol):
    def stop(self) -> None: ...


def follow_stored_credentials(bootstrap: str, topic_prefix: str) -> _Stoppable | None:
    """Stored credentials for the `credentials` config of nodes, when this worker has the
    key to decrypt them (LINKFLOW_APP_KEY)."""
    # Imported here: the node modules import linkflow.worker, which imports this module.
    from linkflow.nodes.credentials import CREDENTIALS
    from linkflow.secrets.follower import CredentialFollower

    text = os.environ.get(ENV_APP_KEY)
    if not text:
        return None
    try:
        key = laravel.parse_key(text)
    except laravel.CipherError as exc:
        raise ValueError(f"{ENV_APP_KEY}: {exc}") from None
    follower = CredentialFollower(bootstrap, topic_prefix + transport.CREDENTIALS, key)
    follower.start()
    CREDENTIALS.stored = follower.resolve

    class Stop:
        def stop(self) -> None:
            CREDENTIALS.stored = None
            follower.stop()

    return Stop()


def share_circuits(
    bootstrap: str, topic_prefix: str, producer: Any, identity: str
) -> _Stoppable | None:
    """The circuit breakers of this worker's nodes, shared with every other worker through
    `linkflow.circuits` (linkflow.worker.circuits)."""
    from linkflow.worker.circuits import CIRCUITS, CircuitPolicy
    from linkflow.worker.follower import TopicFollower

    CIRCUITS.policy = CircuitPolicy.from_environment()
    if not CIRCUITS.policy.enabled:
        return None
    topic = topic_prefix + transport.CIRCUITS

    def publish(key: str, value: bytes | None) -> None:
        try:
            producer.produce(topic, key=key.encode(), value=value, on_delivery=_log_failed)
        except (BufferError, KafkaException) as exc:
            log.warning("sharing the circuit of %s failed: %r", key, exc)

    CIRCUITS.identity = identity
    CIRCUITS.publish = publish
    follower = TopicFollower(bootstrap, topic, CIRCUITS.apply)
    follower.start()
    if not follower.caught_up(SHARED_STATE_WAIT):
        log.warning("%s was not read to its end within %g s", topic, SHARED_STATE_WAIT)

    class Stop:
        def stop(self) -> None:
            CIRCUITS.publish = None
            follower.stop()

    return Stop()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _describe(item: Fetched) -> str:
    return f"{item.topic}[{item.partition}]@{item.offset}"


def _log_failed(err: Any, msg: Any) -> None:
    if err is not None:
        log.warning("delivering a heartbeat failed: %s", err)
