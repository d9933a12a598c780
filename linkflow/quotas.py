"""Workspace quotas, from the YAML/JSON file named by LINKFLOW_QUOTAS_FILE:

    default:                  # every workspace not listed below (optional)
      max_running: 10000
    workspaces:
      acme:
        max_running: 100          # executions running at once
        starts_per_second: 20     # new executions per second (a burst of one second's worth)
        activities_per_second: 50 # activity attempts per second, across the workers

Every limit is optional (unset: no limit). The history processor enforces `max_running`
and `starts_per_second`: a start over either fails at once, its history reads
WorkflowExecutionStarted then WorkflowExecutionFailed with error type QuotaExceeded.
Workers enforce `activities_per_second` before an attempt starts (the task waits, nothing
is lost). docs/workspaces.md says how several processor instances and workers share them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from linkflow.model.workspaces import workspace_problem

ENV_QUOTAS_FILE = "LINKFLOW_QUOTAS_FILE"


class QuotaConfigError(ValueError):
    """The quotas file cannot be used (refused at start, naming the key)."""


@dataclass(frozen=True, slots=True)
class Quota:
    max_running: int | None = None
    starts_per_second: float | None = None
    activities_per_second: float | None = None


@dataclass(frozen=True, slots=True)
class Quotas:
    default: Quota = Quota()
    workspaces: Mapping[str, Quota] = field(default_factory=dict)

    def of(self, workspace: str) -> Quota:
        return self.workspaces.get(workspace, self.default)

    @property
    def limits_starts(self) -> bool:
        every = (self.default, *self.workspaces.values())
        return any(q.max_running is not None or q.starts_per_second is not None for q in every)

    @property
    def limits_activities(self) -> bool:
        every = (self.default, *self.workspaces.values())
        return any(q.activities_per_second is not None for q in every)


_LIMITS = {f.name for f in fields(Quota)}


def _quota(data: Any, where: str) -> Quota:
    if not isinstance(data, dict):
        raise QuotaConfigError(f"{where}: expected a mapping of limits, not {data!r}")
    unknown = sorted(set(data) - _LIMITS)
    if unknown:
        raise QuotaConfigError(f"{where}: unknown limit(s) {unknown} (known: {sorted(_LIMITS)})")
    values: dict[str, Any] = {}
    for name, value in data.items():
        if value is None:
            continue
        integral = name == "max_running"
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise QuotaConfigError(f"{where}.{name}: expected a number >= 0, not {value!r}")
        if integral and not isinstance(value, int):
            raise QuotaConfigError(f"{where}.{name}: expected a whole number, not {value!r}")
        if name == "activities_per_second" and value == 0:
            # Activities would wait for ever, holding the workers' slots.
            raise QuotaConfigError(f"{where}.{name}: must be above 0 (or unset)")
        values[name] = int(value) if integral else float(value)
    return Quota(**values)


def parse_quotas(data: Any, origin: str = "quotas") -> Quotas:
    if data is None:
        return Quotas()
    if not isinstance(data, dict):
        raise QuotaConfigError(f"{origin}: expected a mapping with default and workspaces")
    unknown = sorted(set(data) - {"default", "workspaces"})
    if unknown:
        raise QuotaConfigError(f"{origin}: unknown key(s) {unknown} (known: default, workspaces)")
    default = _quota(data.get("default") or {}, f"{origin}: default")
    raw = data.get("workspaces") or {}
    if not isinstance(raw, dict):
        raise QuotaConfigError(f"{origin}: workspaces: expected a mapping of workspace names")
    workspaces = {}
    for name, limits in raw.items():
        problem = workspace_problem(name)
        if problem is not None:
            raise QuotaConfigError(f"{origin}: workspaces: {problem}")
        workspaces[name] = _quota(limits, f"{origin}: workspaces.{name}")
    return Quotas(default, workspaces)


def load_quotas(path: Path) -> Quotas:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise QuotaConfigError(f"cannot read {path}: {exc}") from exc
    return parse_quotas(data, str(path))


def quotas_from_environment() -> Quotas:
    """The quotas LINKFLOW_QUOTAS_FILE names; no limits when it is unset."""
    path = os.environ.get(ENV_QUOTAS_FILE)
    return load_quotas(Path(path)) if path else Quotas()
