"""The limits a deployment can set, each with its default and range: the payload limit
(in force as `transport.MAX_PAYLOAD_BYTES`) and the history limit (the engine's default is
`MAX_HISTORY_EVENTS` in linkflow/model/limits.py, pure; the history processor passes the
setting). Every process of a deployment reads the same variables, so the API, workers and
processors agree. docs/limits.md lists every limit, fixed or not."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from linkflow.model.limits import MAX_HISTORY_EVENTS


class LimitSettingError(ValueError):
    """An environment variable sets a limit to something that is not a number in range."""


@dataclass(frozen=True, slots=True)
class LimitSetting:
    variable: str
    default: int
    minimum: int
    maximum: int
    why_maximum: str

    def value(self, environ: Mapping[str, str] | None = None) -> int:
        text = (os.environ if environ is None else environ).get(self.variable, "").strip()
        if not text:
            return self.default
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise LimitSettingError(
                f"{self.variable}={text!r} is not a whole number of {self.unit}"
            ) from None
        if not self.minimum <= value <= self.maximum:
            raise LimitSettingError(
                f"{self.variable}={value} is out of range: {self.minimum} to {self.maximum} "
                f"({self.why_maximum})"
            )
        return value

    @property
    def unit(self) -> str:
        return "bytes" if self.variable.endswith("_BYTES") else "events"


# A payload appears whole in one history event and in the execution's state, each a record of
# at most 950,000 bytes (transport.MAX_RECORD_BYTES); 512 KiB leaves room for the rest.
PAYLOAD_BYTES = LimitSetting(
    "LINKFLOW_MAX_PAYLOAD_BYTES",
    512 * 1024,
    1024,
    512 * 1024,
    "a payload is stored whole in a history event and in the state, records of at most "
    "950,000 bytes",
)
HISTORY_EVENTS = LimitSetting(
    "LINKFLOW_MAX_HISTORY_EVENTS",
    MAX_HISTORY_EVENTS,
    100,
    1_000_000,
    "every reader of a history (replay, the sink, reset) pays for its length",
)
