"""The local broker's KRaft cluster id: the storage tool reads an id starting with "-" as an
option, so `linkflow dev up` never makes one (it did about once in 64 fresh setups)."""

from __future__ import annotations

import base64
import uuid

import pytest

from linkflow.dev import kafka


def test_cluster_ids_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first draw encodes to an id starting with "-", the second does not.
    dash = uuid.UUID(bytes=base64.urlsafe_b64decode("-" + "A" * 21 + "=="))
    draws = iter([dash, uuid.UUID(int=1)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka.new_cluster_id()
    assert cluster_id == base64.urlsafe_b64encode(uuid.UUID(int=1).bytes).decode().rstrip("=")
    assert not cluster_id.startswith("-")
