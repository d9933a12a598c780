"""Shared fixtures: the real local stack, started by the project's own code when needed."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from linkflow import dev


@pytest.fixture(scope="session")
def stack() -> Iterator[dev.StackStatus]:
    """The Kafka broker and PostgreSQL server, brought up once for the whole session.

    What this fixture started it also stops, so a developer's running stack is left alone
    and CI ends with nothing running (LINKFLOW_KEEP_STACK=1 keeps it up for a re-run).
    """
    status = dev.up()
    yield status
    if status.started and not os.environ.get("LINKFLOW_KEEP_STACK"):
        dev.down()


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: dev.StackStatus) -> str:
    return stack.kafka_bootstrap_servers


@pytest.fixture(scope="session")
def database_url(stack: dev.StackStatus) -> str:
    return stack.database_url
