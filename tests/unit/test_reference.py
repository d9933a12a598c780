"""The generated references (docs/nodes.md, docs/configuration.md) must not go stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from linkflow.environment import ENVIRONMENT
from linkflow.reference import NODES_MD, core_registry, generated

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted(generated()), ids=lambda p: p.name)
def test_a_generated_reference_matches_the_code(path: Path) -> None:
    assert path.read_text(encoding="utf-8") == generated()[path], (
        f"{path.name} is stale: run `python -m linkflow.reference`"
    )


def test_every_node_type_is_documented_with_its_config_keys() -> None:
    text = NODES_MD.read_text(encoding="utf-8")
    for node_type in core_registry():
        assert f"\n## {node_type.name}\n" in text
        section = text.split(f"\n## {node_type.name}\n", 1)[1].split("\n## ", 1)[0]
        for key in node_type.config_schema.get("properties", {}):
            assert f"| `{key}` |" in section


def test_the_environment_table_declares_exactly_the_variables_the_code_reads() -> None:
    used: set[str] = set()
    sources = [ROOT / "tests" / "conftest.py"]
    for folder in ("linkflow", "processors", "connect", "tests/chaos", "tests/bench"):
        sources += (ROOT / folder).rglob("*.py")
    for path in sources:
        if path.name != "environment.py":
            used |= set(re.findall(r"\bLINKFLOW_[A-Z_]+[A-Z]\b", path.read_text()))
    declared = {var.name for var in ENVIRONMENT}
    assert used - declared == set(), "read but not declared in linkflow/environment.py"
    assert declared - used == set(), "declared but read nowhere"
