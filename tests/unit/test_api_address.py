"""Where the CLI finds the query API, and the port the local runtime serves it on: one
environment variable each, read the same way by `linkflow demo` and the CLI."""

from __future__ import annotations

import pytest

from linkflow.api.remote import default_api_url
from linkflow.cli.main import build_parser
from linkflow.dev import services


def test_the_cli_follows_the_url_then_the_port_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LINKFLOW_API_URL", raising=False)
    monkeypatch.delenv("LINKFLOW_API_PORT", raising=False)
    assert default_api_url() == "http://127.0.0.1:8080"
    monkeypatch.setenv("LINKFLOW_API_PORT", "18080")
    assert default_api_url() == "http://127.0.0.1:18080"
    monkeypatch.setenv("LINKFLOW_API_URL", "http://api.example:9000")
    assert default_api_url() == "http://api.example:9000"


def test_the_demo_serves_the_api_on_linkflow_api_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKFLOW_API_PORT", "18080")
    args = build_parser().parse_args(["demo"])
    assert services.api_port(args.api_port) == 18080
    serve = next(s for s in services.runtime_services() if s.name == "api")
    assert serve.args[-2:] == ("--port", "18080")
    args = build_parser().parse_args(["demo", "--api-port", "9090"])
    assert services.api_port(args.api_port) == 9090
