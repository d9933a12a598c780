"""`sleep`: waits, heartbeating its progress; for tests of concurrency, heartbeats, timeouts
and drains, and for benchmarks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from linkflow.nodes._config import as_mapping, duration_s, invalid
from linkflow.worker.context import ActivityContext
from linkflow.worker.registry import activity

NODE_TYPE = "sleep"
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "seconds": {"type": "number", "minimum": 0, "description": "How long to sleep."},
        "duration": {
            "type": ["integer", "string"],
            "description": "Alternative to seconds: milliseconds or e.g. '1.5s'.",
        },
    },
    "additionalProperties": False,
}

# Progress is recorded this often, so heartbeats carry fresh details.
_STEP_S = 0.25


@activity(
    NODE_TYPE,
    config_schema=CONFIG_SCHEMA,
    description="Sleeps on a worker, heartbeating; unlike `wait`, it holds a worker slot.",
    output='`{"slept_s": seconds}`',
)
async def sleep(ctx: ActivityContext, config: Any) -> dict[str, float]:
    cfg = as_mapping(NODE_TYPE, config)
    if "seconds" in cfg:
        seconds = cfg["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise invalid(NODE_TYPE, f"'seconds' must be a non-negative number, got {seconds!r}")
        seconds = float(seconds)
    else:
        seconds = duration_s(NODE_TYPE, cfg, "duration", 0)
    began = time.monotonic()
    end = began + seconds
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(left, _STEP_S))
        ctx.heartbeat({"slept_s": round(time.monotonic() - began, 3), "seconds": seconds})
    return {"slept_s": round(time.monotonic() - began, 3)}
