"""LINKFLOW_FETCH_MIN_BYTES sets what every LinkFlow consumer asks the broker to gather."""

from __future__ import annotations

import pytest

from linkflow import transport
from linkflow.limits import LimitSettingError


def test_consumers_answer_at_once_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKFLOW_FETCH_MIN_BYTES", raising=False)
    assert transport.consumer_config("k:9092", "g")["fetch.min.bytes"] == 1


def test_the_setting_reaches_every_consumer_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKFLOW_FETCH_MIN_BYTES", "65536")
    assert transport.consumer_config("k:9092", "g")["fetch.min.bytes"] == 65536
    explicit = transport.consumer_config("k:9092", "g", **{"fetch.min.bytes": 10})
    assert explicit["fetch.min.bytes"] == 10


@pytest.mark.parametrize("raw", ["lots", "0", "2000000"])
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("LINKFLOW_FETCH_MIN_BYTES", raw)
    with pytest.raises(LimitSettingError, match="LINKFLOW_FETCH_MIN_BYTES"):
        transport.consumer_config("k:9092", "g")


def test_the_fetch_wait_follows_the_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    # A commit marker answers a waiting fetch, so with a minimum of 1 the wait only paces
    # idle fetches; a larger minimum bounds the latency it may add per hop.
    monkeypatch.delenv("LINKFLOW_FETCH_MIN_BYTES", raising=False)
    assert transport.consumer_config("k:9092", "g")["fetch.wait.max.ms"] == 100
    monkeypatch.setenv("LINKFLOW_FETCH_MIN_BYTES", "65536")
    assert transport.consumer_config("k:9092", "g")["fetch.wait.max.ms"] == 20
    one = transport.consumer_config("k:9092", "g", **{"fetch.min.bytes": 1})
    assert one["fetch.wait.max.ms"] == 100
    told = transport.consumer_config("k:9092", "g", **{"fetch.wait.max.ms": 5})
    assert told["fetch.wait.max.ms"] == 5
