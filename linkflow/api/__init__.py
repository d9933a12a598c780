"""The LinkFlow query service (aiohttp): workflows, executions, history, live events and
commands over HTTP. Reads come from the Postgres visibility projection; writes publish
commands to Kafka.

    app = create_app(ApiConfig.from_settings())
    web.run_app(app)

`linkflow.api.remote` is the small HTTP client the CLI uses. The server pieces load on
first use, so the CLI does not pay for importing aiohttp, psycopg and confluent-kafka.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from linkflow.api.app import create_app
    from linkflow.api.context import ApiConfig

__all__ = ["ApiConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from linkflow.api.app import create_app

        return create_app
    if name == "ApiConfig":
        from linkflow.api.context import ApiConfig

        return ApiConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
