"""Reading YAML spec files and checking their fields, with messages naming file and field."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def display(path: Path) -> str:
    """`path` relative to the working directory when inside it: what a user typed or sees."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_yaml(path: Path, problems: list[str]) -> Any:
    """The parsed file, or None with the reason added to `problems`."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problems.append(f"{display(path)}: not valid YAML{at}: {getattr(exc, 'problem', exc)}")
    except OSError as exc:
        problems.append(f"{display(path)}: cannot read: {exc.strerror}")
    return None


def unknown_keys(
    data: Mapping[str, Any], allowed: frozenset[str], where: str, problems: list[str]
) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(
                f"{where}{key}: unknown field{hint}; expected one of {', '.join(sorted(allowed))}"
            )


def positive_int(value: Any, where: str, problems: list[str]) -> int | None:
    # bool is an int subclass; `partitions: yes` must not read as 1.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    problems.append(f"{where}: expected a positive integer, got {value!r}")
    return None
