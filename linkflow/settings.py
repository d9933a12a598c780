"""Where LinkFlow finds Kafka and PostgreSQL.

Users point LinkFlow at their own services with environment variables; otherwise the local
stack started by `linkflow dev up` records its addresses in the state directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENV_BOOTSTRAP = "LINKFLOW_KAFKA_BOOTSTRAP"
ENV_DATABASE_URL = "LINKFLOW_DATABASE_URL"
ENV_HOME = "LINKFLOW_HOME"
STACK_FILE = "stack.json"


class NotConfigured(RuntimeError):
    """Neither the environment nor a running local stack says where a service is."""


def state_dir() -> Path:
    """The project state directory (`.linkflow/` at the project root unless LINKFLOW_HOME)."""
    configured = os.environ.get(ENV_HOME)
    if configured:
        return Path(configured).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".linkflow").is_dir() or (candidate / "pyproject.toml").is_file():
            return candidate / ".linkflow"
    return here / ".linkflow"


def stack_info() -> dict[str, Any]:
    """What `linkflow dev up` wrote about the running local stack, or {}."""
    path = state_dir() / STACK_FILE
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def external_services() -> bool:
    """True when the environment names the services, so nothing local is started."""
    return bool(os.environ.get(ENV_BOOTSTRAP) and os.environ.get(ENV_DATABASE_URL))


def kafka_bootstrap() -> str:
    value = os.environ.get(ENV_BOOTSTRAP) or stack_info().get("kafka", {}).get("bootstrap_servers")
    if not value:
        raise NotConfigured(f"no Kafka configured: set {ENV_BOOTSTRAP} or run `linkflow dev up`")
    return str(value)


def database_url() -> str:
    value = os.environ.get(ENV_DATABASE_URL) or stack_info().get("postgres", {}).get("url")
    if not value:
        raise NotConfigured(
            f"no PostgreSQL configured: set {ENV_DATABASE_URL} or run `linkflow dev up`"
        )
    return str(value)
