"""Workers: run the activity tasks of one task queue and report results (see worker.py).

Handler authors need only this module:

    from linkflow.worker import ActivityContext, ActivityError, activity

    @activity("greet")
    async def greet(ctx: ActivityContext, input: dict) -> dict:
        ctx.heartbeat({"step": 1})
        if "name" not in input:
            raise ActivityError("InvalidConfig", "name is required", retryable=False)
        return {"greeting": f"hello {input['name']}"}
"""

from linkflow.worker.context import ActivityContext, Resources
from linkflow.worker.errors import ActivityError, ErrorInfo, classify
from linkflow.worker.execute import Outcome, execute
from linkflow.worker.messages import ActivityTask
from linkflow.worker.registry import (
    ENTRY_POINT_GROUP,
    HandlerLoadError,
    HandlerRegistry,
    HandlerSpec,
    activity,
    build_registry,
)
from linkflow.worker.worker import Worker, WorkerConfig, WorkerError, WorkerStats

__all__ = [
    "ENTRY_POINT_GROUP",
    "ActivityContext",
    "ActivityError",
    "ActivityTask",
    "ErrorInfo",
    "HandlerLoadError",
    "HandlerRegistry",
    "HandlerSpec",
    "Outcome",
    "Resources",
    "Worker",
    "WorkerConfig",
    "WorkerError",
    "WorkerStats",
    "activity",
    "build_registry",
    "classify",
    "execute",
]
