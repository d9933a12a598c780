"""noop, echo and sleep; credential helpers; kafka_publish's message encoding."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from linkflow.nodes import credentials, kafka_publish
from linkflow.nodes.echo import echo
from linkflow.nodes.noop import noop
from linkflow.nodes.sleep import sleep
from linkflow.worker import ActivityContext, ActivityError, HandlerRegistry, execute


def _ctx() -> ActivityContext:
    return ActivityContext(execution_id="e1", activity_id="a1", attempt=1, node_id="n1")


async def test_noop_returns_null_and_echo_returns_its_input() -> None:
    registry = HandlerRegistry()
    registry.register("noop", noop)
    outcome = await execute(registry.get("noop"), _ctx(), {"anything": 1})
    assert outcome.ok and outcome.result is None
    config = {"a": [1, {"b": None}]}
    assert await echo(_ctx(), config) == config


async def test_sleep_sleeps_and_records_progress_for_heartbeats() -> None:
    ctx = _ctx()
    result = await sleep(ctx, {"seconds": 0.6})
    assert result["slept_s"] >= 0.6
    assert ctx.heartbeat_count >= 2
    assert ctx.heartbeat_details["seconds"] == 0.6
    assert (await sleep(_ctx(), {"duration": "50ms"}))["slept_s"] >= 0.05
    assert (await sleep(_ctx(), {}))["slept_s"] >= 0


@pytest.mark.parametrize("config", [{"seconds": -1}, {"seconds": "soon"}, {"duration": "x"}, 3])
async def test_sleep_rejects_bad_durations(config: Any) -> None:
    registry = HandlerRegistry()
    registry.register("sleep", sleep)
    outcome = await execute(registry.get("sleep"), _ctx(), config)
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("InvalidConfig", False)


async def test_bearer_token_is_read_from_the_environment_at_call_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = credentials.CredentialRegistry()
    registry.register("gh", credentials.bearer_token_from_env("LF_TEST_TOKEN"))
    request = credentials.CredentialRequest("gh", "GET", "https://example.invalid")
    monkeypatch.delenv("LF_TEST_TOKEN", raising=False)
    with pytest.raises(ActivityError) as missing:
        await registry.headers(request)
    assert missing.value.type == "CredentialsNotFound" and not missing.value.retryable
    monkeypatch.setenv("LF_TEST_TOKEN", "abc")
    assert await registry.headers(request) == {"Authorization": "Bearer abc"}
    monkeypatch.setenv("LF_TEST_TOKEN", "rotated")
    assert await registry.headers(request) == {"Authorization": "Bearer rotated"}


def test_credential_names_are_registered_once() -> None:
    registry = credentials.CredentialRegistry()
    registry.register("x", credentials.static_headers({"A": "1"}))
    with pytest.raises(ValueError):
        registry.register("x", credentials.static_headers({"A": "2"}))
    registry.register("x", credentials.static_headers({"A": "2"}), replace=True)
    assert registry.names() == ["x"]


async def test_register_credentials_works_as_a_decorator() -> None:
    @credentials.register_credentials("test-decorated")
    def provide(request: credentials.CredentialRequest) -> dict[str, str]:
        return {"X-Key": request.url}

    try:
        request = credentials.CredentialRequest("test-decorated", "GET", "u")
        assert await credentials.CREDENTIALS.headers(request) == {"X-Key": "u"}
    finally:
        credentials.CREDENTIALS.unregister("test-decorated")


def test_kafka_publish_encodes_values_keys_and_headers() -> None:
    assert kafka_publish.encode_value({"a": 1}, "json") == b'{"a":1}'
    assert kafka_publish.encode_value("plain", "text") == b"plain"
    assert (
        kafka_publish.encode_value(base64.b64encode(b"\x00\x01").decode(), "base64") == b"\x00\x01"
    )
    assert kafka_publish.encode_key(None) is None
    assert kafka_publish.encode_key("k") == b"k"
    assert kafka_publish.encode_key({"id": 1}) == b'{"id":1}'
    assert kafka_publish.encode_headers({"a": "1", "b": None}) == [("a", b"1"), ("b", None)]
    with pytest.raises(ActivityError):
        kafka_publish.encode_value({"not": "text"}, "text")
    with pytest.raises(ActivityError):
        kafka_publish.encode_value("%%%", "base64")


@pytest.mark.parametrize(
    "config",
    [{"value": 1}, {"topic": "t"}, {"topic": "t", "value": 1, "value_format": "avro"}],
)
async def test_kafka_publish_rejects_bad_configs_before_touching_kafka(config: Any) -> None:
    registry = HandlerRegistry()
    registry.register("kafka_publish", kafka_publish.kafka_publish)
    outcome = await execute(registry.get("kafka_publish"), _ctx(), config)
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.retryable) == ("InvalidConfig", False)
