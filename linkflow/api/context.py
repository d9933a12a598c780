"""What every handler needs: configuration and the long-lived clients, stored on the app."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from linkflow import settings
from linkflow.api.auth import Authenticator
from linkflow.api.catalog import DefinitionFollower
from linkflow.api.publisher import Publisher
from linkflow.secrets import laravel


@dataclass(frozen=True)
class ApiConfig:
    database_url: str
    kafka_bootstrap: str
    pool_min_size: int = 1
    pool_max_size: int = 10
    # Upper bound of `?wait=` on start: longer waits belong to SSE or polling `get`.
    wait_max_seconds: float = 60.0
    # Polling of Postgres by `?wait=` and the SSE tail: quick after a change, slower when idle.
    poll_min_seconds: float = 0.05
    poll_max_seconds: float = 0.5
    sse_keepalive_seconds: float = 15.0
    probe_timeout_seconds: float = 2.0
    # How long a request waits for a pooled Postgres connection before answering 503.
    pool_timeout_seconds: float = 5.0
    # How long a command may wait for Kafka's acknowledgement before the request answers
    # 503, instead of librdkafka's default five minutes of retries.
    publish_timeout_seconds: float = 15.0
    # How long a request body may take to arrive: a client that announces more than it
    # sends must not hold a connection (and a handler) open.
    body_read_seconds: float = 10.0
    identity: str = "linkflow-api"
    # Prefix of every topic name, as given to `topics apply` and the processors.
    topic_prefix: str = ""
    # Who may call what (None: everyone may call everything).
    auth: Authenticator | None = None
    follow_definitions: bool = True
    # The key stored credentials are encrypted with (LINKFLOW_APP_KEY); None: the API
    # refuses to store credentials.
    app_key: bytes | None = None

    @classmethod
    def from_settings(cls, **overrides: Any) -> ApiConfig:
        overrides.setdefault("database_url", settings.database_url())
        overrides.setdefault("kafka_bootstrap", settings.kafka_bootstrap())
        if "auth" not in overrides:
            overrides["auth"] = Authenticator.from_environment()
        if "app_key" not in overrides:
            overrides["app_key"] = app_key_from_environment()
        return cls(**overrides)


def app_key_from_environment() -> bytes | None:
    text = os.environ.get(laravel.ENV_APP_KEY)
    if not text:
        return None
    try:
        return laravel.parse_key(text)
    except laravel.CipherError as exc:
        raise ValueError(f"{laravel.ENV_APP_KEY}: {exc}") from None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class ApiContext:
    config: ApiConfig
    pool: AsyncConnectionPool[Any]
    publisher: Publisher
    follower: DefinitionFollower | None
    now_ms: Callable[[], int] = field(default=_now_ms)
    # Set at shutdown so SSE streams and `?wait=` loops end instead of holding the server up.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


def topic(ctx: ApiContext, name: str) -> str:
    """The name of one of LinkFlow's topics in this deployment."""
    return ctx.config.topic_prefix + name


CONTEXT = web.AppKey("linkflow_api_context", ApiContext)


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]
