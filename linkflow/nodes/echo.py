"""`echo`: returns its input (the rendered config) unchanged; for tests of data flow."""

from __future__ import annotations

from typing import Any

from linkflow.worker.context import ActivityContext
from linkflow.worker.registry import activity

NODE_TYPE = "echo"
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Any object; the activity's result is the config itself.",
}


@activity(
    NODE_TYPE,
    config_schema=CONFIG_SCHEMA,
    description="Returns its rendered config: shows what a template produced.",
    output="The rendered config object.",
)
async def echo(ctx: ActivityContext, config: Any) -> Any:
    return config
