"""Where the .avsc files live and how they are read.

The canonical schemas are the repository's top-level `schemas/` directory (the public
contract named in the design); the codec reads them from there rather than keeping a
second copy inside the package that could drift.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# linkflow/codec/store.py -> repository root
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
RELEASED = "released"
MANIFEST = "manifest.json"

_SNAPSHOT = re.compile(r"v(\d+)\.avsc")

Schema = dict[str, Any]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing: linkflow.codec reads its Avro schemas from the repository's "
            "schemas/ directory, so install LinkFlow from a checkout (pip install -e .)"
        ) from None


def current_path(family: str, root: Path = SCHEMA_DIR) -> Path:
    return root / f"{family}.avsc"


def released_dir(family: str, root: Path = SCHEMA_DIR) -> Path:
    return root / RELEASED / family


def load_current(family: str, root: Path = SCHEMA_DIR) -> Schema:
    """The schema producers write with today."""
    schema: Schema = _read_json(current_path(family, root))
    return schema


def load_released(family: str, root: Path = SCHEMA_DIR) -> list[tuple[int, Schema]]:
    """Every released snapshot of `family` as (version, schema), oldest first."""
    folder = released_dir(family, root)
    found: list[tuple[int, Schema]] = []
    for path in folder.glob("v*.avsc"):
        match = _SNAPSHOT.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), _read_json(path)))
    return sorted(found, key=lambda item: item[0])


def load_manifest(root: Path = SCHEMA_DIR) -> dict[str, dict[str, str]]:
    """{family: {"v1": fingerprint hex, ...}}: the fingerprints already out in the world."""
    path = root / RELEASED / MANIFEST
    if not path.exists():
        return {}
    manifest: dict[str, dict[str, str]] = _read_json(path)
    return manifest


def save_manifest(manifest: dict[str, dict[str, str]], root: Path = SCHEMA_DIR) -> None:
    path = root / RELEASED / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
