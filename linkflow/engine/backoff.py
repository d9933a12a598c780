"""Retry delays: exponential backoff with jitter derived from a hash of (execution id, node,
scope, attempt), so the delay is spread across executions but identical on every re-decision."""

from __future__ import annotations

import hashlib

from linkflow.model.definition import RetryPolicy


def jitter_fraction(execution_id: str, node_id: str, scope: str, attempt: int) -> float:
    """A number in [0, 1) that depends only on its arguments."""
    digest = hashlib.blake2b(
        f"{execution_id}\x00{node_id}\x00{scope}\x00{attempt}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / 2**64


def retry_delay_ms(
    policy: RetryPolicy, failed_attempt: int, execution_id: str, node_id: str, scope: str
) -> int:
    """Delay before the attempt after `failed_attempt` (1-based)."""
    base = policy.initial_interval_ms * policy.backoff_coefficient ** (failed_attempt - 1)
    base = min(base, float(policy.max_interval_ms))
    if policy.jitter:
        fraction = jitter_fraction(execution_id, node_id, scope, failed_attempt)
        base *= 1.0 - policy.jitter + 2.0 * policy.jitter * fraction
    return max(0, int(base))
