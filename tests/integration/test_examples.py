"""Every workflow in examples/ runs on the real broker and ends as its metadata says.

Each example carries `metadata.example`: the `input` to start it with, `signals` to send,
other example files it `requires` (registered first), and the outcome to `expect` (status,
output, and optionally event types its history holds in that order). URLs
of http nodes point at 127.0.0.1:8099 in the files; here they point at a local server
with the same paths (/flaky/<key>, /status/<code>, /echo).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_runtime_support import HttpServer, Runtime, http_server, runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(EXAMPLES.glob("*.json"))
PLACEHOLDER = "http://127.0.0.1:8099"


@pytest.fixture(scope="module")
def rt(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with runtime(kafka_bootstrap, tmp_path_factory.mktemp("examples"), "examples") as rt:
        yield rt


@pytest.fixture(scope="module")
def web() -> Iterator[HttpServer]:
    with http_server() as server:
        yield server


def _pointed(value: Any, url: str) -> Any:
    if isinstance(value, str):
        return value.replace(PLACEHOLDER, url)
    if isinstance(value, dict):
        return {k: _pointed(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [_pointed(v, url) for v in value]
    return value


def test_there_are_a_dozen_examples() -> None:
    assert len(FILES) >= 12


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_runs_as_documented(path: Path, rt: Runtime, web: HttpServer) -> None:
    doc = json.loads(path.read_text())
    example = doc["metadata"]["example"]
    for required in example.get("requires", []):
        rt.register(json.loads((EXAMPLES / required).read_text()))
    rt.register(doc)
    execution_id = rt.client.start(doc["id"], _pointed(example["input"], web.url))
    for sent in example.get("signals", []):
        rt.client.signal(execution_id, sent["name"], sent.get("payload"))
    outcome = rt.wait(execution_id)
    expect = example["expect"]
    assert (outcome.status, outcome.output) == (expect["status"], expect["output"]), outcome
    # `events`: event types the history holds in this order (others may come between).
    types = iter(e["event_type"] for e in outcome.events)
    missing = [t for t in expect.get("events", []) if t not in types]
    assert not missing, (missing, [e["event_type"] for e in outcome.events])
