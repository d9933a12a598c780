"""`linkflow api serve`: run the HTTP query service."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from linkflow import settings


def register(subparsers: Any) -> None:
    api = subparsers.add_parser("api", help="the HTTP query service")
    actions = api.add_subparsers(dest="api_command", metavar="ACTION")
    api.set_defaults(func=lambda _args: _usage(api))

    serve = actions.add_parser(
        "serve",
        help="serve the query API until SIGTERM/SIGINT",
        description="Apply pending database migrations, then serve the query API: "
        "workflows, executions, history, live events, commands, /healthz, /readyz, "
        "/metrics and /openapi.json.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (8080)")
    serve.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers")
    serve.add_argument("--database-url", default=None, help="PostgreSQL URL")
    serve.add_argument(
        "--no-migrate", action="store_true", help="do not apply database migrations at start"
    )
    serve.add_argument(
        "--topic-prefix",
        default="",
        help="prefix of every topic name, as given to `topics apply` and the processors",
    )
    serve.add_argument("--log-level", default="INFO", help="logging level (INFO)")
    serve.set_defaults(func=_serve, long_running=True)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from linkflow.api import ApiConfig, auth, create_app
    from linkflow.api.auth import AuthConfigError

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = ApiConfig.from_settings(
            **{
                k: v
                for k, v in (
                    ("database_url", args.database_url),
                    ("kafka_bootstrap", args.bootstrap),
                    ("topic_prefix", args.topic_prefix),
                )
                if v
            }
        )
    except (settings.NotConfigured, AuthConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if config.auth is None:
        logging.getLogger("linkflow.api").warning(
            "no %s or %s: the API answers anyone who can reach it",
            auth.ENV_TOKENS_FILE,
            auth.ENV_JWT_SECRET,
        )
    if not args.no_migrate:
        _migrate(config.database_url)
    # run_app handles SIGINT/SIGTERM: it stops accepting, ends SSE streams, closes clients.
    web.run_app(
        create_app(config),
        host=args.host,
        port=args.port,
        access_log=None,
        print=lambda text: logging.getLogger("linkflow.api").info(text.strip()),
        shutdown_timeout=10.0,
    )
    return 0


def _migrate(database_url: str) -> None:
    try:
        from connect.migrate import migrate
    except ModuleNotFoundError:  # an installation without the connectors
        logging.getLogger(__name__).warning("connect.migrate not found; not migrating")
        return
    applied = migrate(database_url)
    if applied:
        logging.getLogger(__name__).info("applied migrations %s", applied)
