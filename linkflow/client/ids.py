"""Execution ids and partitions, computed the way every LinkFlow producer computes them."""

from __future__ import annotations

import uuid

from aiokafka.partitioner import murmur2

# A fixed namespace makes idempotency-key ids stable across clients, hosts and releases.
_NAMESPACE = uuid.UUID("6f1d8a52-3c0b-4f0e-9a57-4c1e9b7d2a10")


def execution_id_for(workflow_id: str, idempotency_key: str | None) -> str:
    """A fresh id, or the same id for the same (workflow, idempotency key).

    Deriving the id from the key sends a repeated start to the execution that already
    exists, where the engine recognises it and adds nothing.
    """
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_NAMESPACE, f"{workflow_id}\x00{idempotency_key}"))


def partition_for(key: str, partitions: int) -> int:
    """The partition the Java, aiokafka and Faust partitioners (murmur2) choose for `key`."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
