"""Facts about a family's schema that the codec needs once, at construction."""

from __future__ import annotations

from typing import Any

from linkflow.codec.families import Family

Schema = dict[str, Any]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def union_field(schema: Schema, family: Family) -> Schema:
    """The envelope field holding the union of typed records."""
    for field in schema["fields"]:
        if field["name"] == family.union_field:
            if not isinstance(field["type"], list):
                break
            return dict(field)
    raise ValueError(f"schema {schema.get('name')} has no union field {family.union_field!r}")


def branch_names(schema: Schema, family: Family) -> dict[str, str]:
    """{short name: full name} of the records in the envelope's union, in schema order."""
    namespace = schema.get("namespace", "")
    names = {}
    for branch in union_field(schema, family)["type"]:
        ns = branch.get("namespace", namespace)
        names[branch["name"]] = f"{ns}.{branch['name']}" if ns else branch["name"]
    return names


def envelope_fields(schema: Schema, family: Family) -> tuple[str, ...]:
    """Envelope fields other than the type field and the union."""
    skip = (family.type_field, family.union_field)
    return tuple(f["name"] for f in schema["fields"] if f["name"] not in skip)


def branch_fields(schema: Schema, family: Family) -> dict[str, tuple[str, ...]]:
    """{short name: field names} of each record in the union."""
    return {
        branch["name"]: tuple(f["name"] for f in branch["fields"])
        for branch in union_field(schema, family)["type"]
    }


def has_named_union(schema: Any) -> bool:
    """True when `schema` contains a union with a named (record) branch."""
    if isinstance(schema, list):
        named = any(
            (isinstance(branch, dict) and branch.get("type") == "record")
            or (isinstance(branch, str) and branch not in _PRIMITIVES)
            for branch in schema
        )
        return named or any(has_named_union(branch) for branch in schema)
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record":
            return any(has_named_union(field["type"]) for field in schema["fields"])
        if kind == "array":
            return has_named_union(schema["items"])
        if kind == "map":
            return has_named_union(schema["values"])
        return isinstance(kind, (dict, list)) and has_named_union(kind)
    return False


def has_container_default(schema: Any) -> bool:
    """True when some field defaults to a map, array or record value."""
    if isinstance(schema, list):
        return any(has_container_default(branch) for branch in schema)
    if not isinstance(schema, dict):
        return False
    if schema.get("type") == "record":
        return any(
            isinstance(field.get("default"), (dict, list)) or has_container_default(field["type"])
            for field in schema["fields"]
        )
    return any(has_container_default(schema.get(key)) for key in ("type", "items", "values"))
