"""Reading node configs inside handlers: wrong values are the workflow author's mistake and
fail the activity for good (retrying cannot fix a config)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from linkflow.model.durations import parse_duration
from linkflow.worker.errors import INVALID_CONFIG, ActivityError


def invalid(node_type: str, message: str) -> ActivityError:
    return ActivityError(INVALID_CONFIG, f"{node_type}: {message}", retryable=False)


def as_mapping(node_type: str, config: Any) -> Mapping[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise invalid(node_type, f"config must be an object, got {type(config).__name__}")
    return config


def string(node_type: str, config: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = config.get(key, default)
    if not isinstance(value, str) or not value:
        if key not in config and default is None:
            raise invalid(node_type, f"{key!r} is required")
        raise invalid(node_type, f"{key!r} must be a non-empty string, got {value!r}")
    return value


def duration_s(node_type: str, config: Mapping[str, Any], key: str, default_ms: int) -> float:
    """A duration as definitions write them (integer milliseconds or "30s"), in seconds."""
    value = config.get(key)
    if value is None:
        return default_ms / 1000
    try:
        return parse_duration(value) / 1000
    except ValueError as exc:
        raise invalid(node_type, f"{key!r}: {exc}") from None


def choice(
    node_type: str, config: Mapping[str, Any], key: str, options: tuple[str, ...], default: str
) -> str:
    value = config.get(key, default)
    if value not in options:
        raise invalid(node_type, f"{key!r} must be one of {', '.join(options)}; got {value!r}")
    return str(value)
