"""The core activity handlers: http, code, kafka_publish, and noop/echo/sleep for tests and
benchmarks. Each module declares `NODE_TYPE` and `CONFIG_SCHEMA` (the JSON Schema of its
config) and registers its handler with `@activity`.

Users add node types in their own packages through the `linkflow.nodes` entry point group
(see linkflow.worker.registry); nothing here needs to change for that.
"""

from __future__ import annotations

import importlib
from typing import Any

CORE_MODULES = (
    "linkflow.nodes.noop",
    "linkflow.nodes.echo",
    "linkflow.nodes.sleep",
    "linkflow.nodes.http",
    "linkflow.nodes.code",
    "linkflow.nodes.kafka_publish",
)


def config_schemas() -> dict[str, dict[str, Any]]:
    """Node type -> JSON Schema of its config, for the model's node-type registry."""
    schemas = {}
    for name in CORE_MODULES:
        module = importlib.import_module(name)
        schemas[module.NODE_TYPE] = module.CONFIG_SCHEMA
    return schemas
