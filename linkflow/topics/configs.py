"""Topic-level Kafka configs a spec may set, and how their YAML values become broker strings.

Checking keys here turns a typo such as `retention.msec` into an error naming the file and
field, instead of a CreateTopics failure (or, worse, an alter that never converges).
"""

from __future__ import annotations

import difflib
import re

_INT = re.compile(r"-?\d+")

# key -> smallest value Kafka accepts (None: no lower bound worth checking here)
INT_CONFIGS: dict[str, int | None] = {
    "compression.gzip.level": None,
    "compression.lz4.level": None,
    "compression.zstd.level": None,
    "delete.retention.ms": 0,
    "file.delete.delay.ms": 0,
    "flush.messages": 1,
    "flush.ms": 0,
    "index.interval.bytes": 0,
    "local.retention.bytes": -2,
    "local.retention.ms": -2,
    "max.compaction.lag.ms": 1,
    "max.message.bytes": 0,
    "message.timestamp.after.max.ms": 0,
    "message.timestamp.before.max.ms": 0,
    "message.timestamp.difference.max.ms": 0,
    "min.compaction.lag.ms": 0,
    "min.insync.replicas": 1,
    "retention.bytes": -1,
    "retention.ms": -1,
    "segment.bytes": 14,
    "segment.index.bytes": 4,
    "segment.jitter.ms": 0,
    "segment.ms": 1,
}
BOOL_CONFIGS = frozenset(
    {
        "message.downconversion.enable",
        "preallocate",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
        "remote.storage.enable",
        "unclean.leader.election.enable",
    }
)
RATIO_CONFIGS = frozenset({"min.cleanable.dirty.ratio"})
ENUM_CONFIGS: dict[str, frozenset[str]] = {
    "compression.type": frozenset({"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}),
    "message.timestamp.type": frozenset({"CreateTime", "LogAppendTime"}),
}
LIST_ENUM_CONFIGS: dict[str, frozenset[str]] = {
    "cleanup.policy": frozenset({"delete", "compact"}),
}
STRING_CONFIGS = frozenset(
    {
        "follower.replication.throttled.replicas",
        "leader.replication.throttled.replicas",
        "message.format.version",
    }
)
KNOWN_CONFIGS = frozenset(
    {*INT_CONFIGS, *BOOL_CONFIGS, *RATIO_CONFIGS, *ENUM_CONFIGS, *LIST_ENUM_CONFIGS}
    | STRING_CONFIGS
)


class ConfigValueError(ValueError):
    """A config key or value a broker would reject; the message names what is wrong."""


def to_broker_value(key: str, value: object) -> str:
    """The string a broker reports for `value`, so specs and DescribeConfigs compare equal."""
    if key not in KNOWN_CONFIGS:
        close = difflib.get_close_matches(key, sorted(KNOWN_CONFIGS), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigValueError(f"unknown topic config{hint}")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = str(value)
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        text = ",".join(item.strip() for item in value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ConfigValueError(f"expected a scalar value, got {type(value).__name__}")
    _check(key, text)
    return text


def _check(key: str, text: str) -> None:
    if key in INT_CONFIGS:
        if not _INT.fullmatch(text):
            raise ConfigValueError(f"expected an integer, got {text!r}")
        minimum = INT_CONFIGS[key]
        if minimum is not None and int(text) < minimum:
            raise ConfigValueError(f"must be at least {minimum}, got {text}")
    elif key in BOOL_CONFIGS:
        if text not in ("true", "false"):
            raise ConfigValueError(f"expected true or false, got {text!r}")
    elif key in RATIO_CONFIGS:
        try:
            ratio = float(text)
        except ValueError:
            raise ConfigValueError(f"expected a number between 0 and 1, got {text!r}") from None
        if not 0 <= ratio <= 1:
            raise ConfigValueError(f"expected a number between 0 and 1, got {text}")
    elif key in ENUM_CONFIGS:
        allowed = ENUM_CONFIGS[key]
        if text not in allowed:
            raise ConfigValueError(f"expected one of {', '.join(sorted(allowed))}, got {text!r}")
    elif key in LIST_ENUM_CONFIGS:
        allowed = LIST_ENUM_CONFIGS[key]
        parts = [part.strip() for part in text.split(",")]
        if not text or not all(part in allowed for part in parts):
            raise ConfigValueError(
                f"expected one or more of {', '.join(sorted(allowed))}, got {text!r}"
            )
