"""docs/nodes.md is generated from the node declarations and must not go stale."""

from __future__ import annotations

from linkflow.reference import NODES_MD, core_registry, nodes_markdown


def test_docs_nodes_md_matches_the_node_declarations() -> None:
    expected = nodes_markdown(core_registry())
    assert NODES_MD.read_text(encoding="utf-8") == expected, (
        "docs/nodes.md is stale: run `python -m linkflow.reference`"
    )


def test_every_node_type_is_documented_with_its_config_keys() -> None:
    text = NODES_MD.read_text(encoding="utf-8")
    for node_type in core_registry():
        assert f"\n## {node_type.name}\n" in text
        for key in node_type.config_schema.get("properties", {}):
            assert f"| `{key}` |" in text.split(f"\n## {node_type.name}\n", 1)[1]
