"""`profiles.yaml`: replication settings per deployment profile (dev, production, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from linkflow.topics.fields import display, positive_int, read_yaml, unknown_keys

PROFILES_FILE = "profiles.yaml"
_PROFILE_KEYS = frozenset({"replication_factor", "min_insync_replicas"})


@dataclass(frozen=True)
class Profile:
    name: str
    replication_factor: int
    min_insync_replicas: int


def load_profile(specs_dir: Path, requested: str | None, problems: list[str]) -> Profile | None:
    """The requested profile, else the file's default; None when there is neither (or it is
    broken, which `problems` then says)."""
    path = specs_dir / PROFILES_FILE
    shown = display(path)
    if not path.is_file():
        if requested:
            problems.append(f"{shown}: missing, so profile '{requested}' is not defined")
        return None
    data = read_yaml(path, problems)
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
        problems.append(f"{shown}: profiles: expected a mapping of profile name to settings")
        return None
    unknown_keys(data, frozenset({"default", "profiles"}), f"{shown}: ", problems)
    name = requested or data.get("default")
    if name is None:
        return None
    profiles = data["profiles"]
    if name not in profiles:
        source = "requested" if requested else "default"
        problems.append(
            f"{shown}: {source} profile '{name}' is not defined "
            f"(defined: {', '.join(map(str, profiles)) or 'none'})"
        )
        return None
    settings = profiles[name]
    where = f"{shown}: profiles.{name}"
    if not isinstance(settings, dict):
        problems.append(f"{where}: expected a mapping")
        return None
    unknown_keys(settings, _PROFILE_KEYS, f"{where}.", problems)
    missing = sorted(_PROFILE_KEYS - settings.keys())
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
        return None
    rf = positive_int(settings["replication_factor"], f"{where}.replication_factor", problems)
    isr = positive_int(settings["min_insync_replicas"], f"{where}.min_insync_replicas", problems)
    if rf is None or isr is None:
        return None
    return Profile(str(name), rf, isr)
