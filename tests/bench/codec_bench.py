"""Encode/decode throughput of one typical history event (an ActivityTaskScheduled).

    .venv/bin/python tests/bench/codec_bench.py [--seconds 2]

Prints messages per second for each direction, single thread, schemas already loaded.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from linkflow.codec import codec, decode_history, encode_history

EVENT: dict[str, Any] = {
    "execution_id": "order-flow-6f1c2a9e-3b7d-4f0a-9c55-1d2e3f4a5b6c",
    "event_id": 42,
    "timestamp_ms": 1_732_250_000_123,
    "event_type": "ActivityTaskScheduled",
    "attributes": {
        "activity_id": "fetch_customer#1",
        "node_id": "fetch_customer",
        "scope": "foreach1[3]",
        "node_type": "http",
        "task_queue": "default",
        "attempt": 1,
        "input": {
            "method": "GET",
            "url": "https://api.example.com/customers/1234",
            "headers": {"accept": "application/json", "x-request-id": "abc-123"},
            "timeout_s": 10,
        },
        "schedule_to_start_ms": None,
        "start_to_close_ms": 30_000,
        "heartbeat_ms": None,
    },
}


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of `fn`, timed in batches so the clock is not the bottleneck."""
    batch = 1_000
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()

    data = encode_history(EVENT)
    assert decode_history(data) == EVENT
    history = codec("history")

    results = {
        "encode_history": rate(lambda: encode_history(EVENT), args.seconds),
        "decode_history": rate(lambda: decode_history(data), args.seconds),
        "Codec.encode": rate(lambda: history.encode(EVENT), args.seconds),
        "Codec.decode": rate(lambda: history.decode(data), args.seconds),
    }
    print(f"history event ActivityTaskScheduled, {len(data)} bytes encoded")
    for name, per_second in results.items():
        print(f"{name:>15}: {per_second:>10,.0f} msg/s  ({1e6 / per_second:.2f} us/msg)")


if __name__ == "__main__":
    main()
