"""The chaos suite reuses the integration tier's runtime helpers and needs the real stack."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_runtime_support import Runtime, runtime


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chaos" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def rt(kafka_bootstrap: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """A runtime on topics of its own, named for the scenario; nothing started yet."""
    name = "chaos-" + request.module.__name__.removeprefix("test_").replace("_", "-")
    with runtime(kafka_bootstrap, tmp_path, name, start=False) as rt:
        yield rt
