"""`noop`: does nothing and returns null; the cheapest activity, for benchmarks."""

from __future__ import annotations

from typing import Any

from linkflow.worker.context import ActivityContext
from linkflow.worker.registry import activity

NODE_TYPE = "noop"
CONFIG_SCHEMA: dict[str, Any] = {"type": "object"}


@activity(
    NODE_TYPE,
    config_schema=CONFIG_SCHEMA,
    description="Does nothing: the cheapest activity (benchmarks, placeholders).",
    output="null",
)
async def noop(ctx: ActivityContext, config: Any) -> None:
    return None
