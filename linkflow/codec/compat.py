"""Backward compatibility: can the current schema read everything a released one wrote?

Checked by writing sample data with the old (writer) schema and reading it with fastavro's
schema resolution into the new (reader) schema. The samples take every branch of every
union and every enum symbol, so a removed union branch fails as surely as a new field
without a default or a changed type.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from linkflow.codec import jsonfield

jsonfield.register()

_PRIMITIVE_SAMPLES: dict[str, list[Any]] = {
    "null": [None],
    "boolean": [True],
    "int": [7],
    "long": [1 << 40],
    "float": [1.5],
    "double": [2.25],
    "bytes": [b"\x00\xff"],
    "string": ["sample"],
}
_JSON_SAMPLES: list[Any] = [{"key": ["value", 1, 2.5, True, None]}]


class IncompatibleSchemaError(Exception):
    """A schema change would make data already on the topics unreadable."""


def _full_name(schema: dict[str, Any], namespace: str) -> str:
    name: str = schema["name"]
    if "." in name:
        return name
    ns = schema.get("namespace", namespace)
    return f"{ns}.{name}" if ns else name


def samples(schema: Any) -> list[Any]:
    """Data for `schema` that together visit every union branch and enum symbol."""
    return _samples(schema, {}, "")


def _samples(schema: Any, named: dict[str, Any], namespace: str) -> list[Any]:
    if isinstance(schema, str):
        if schema in _PRIMITIVE_SAMPLES:
            return _PRIMITIVE_SAMPLES[schema]
        full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
        return _samples(named.get(full, named.get(schema)), named, namespace)
    if isinstance(schema, list):
        out: list[Any] = []
        for branch in schema:
            branch_samples = _samples(branch, named, namespace)
            if isinstance(branch, dict) and branch.get("type") == "record":
                # Tuple notation: say which record branch, as a producer would.
                full = _full_name(branch, namespace)
                out.extend((full, sample) for sample in branch_samples)
            elif isinstance(branch, str) and isinstance(named.get(branch), dict):
                out.extend((branch, sample) for sample in branch_samples)
            else:
                out.extend(branch_samples)
        return out
    if schema.get("logicalType") == "json" and schema.get("type") == "bytes":
        return _JSON_SAMPLES
    kind = schema["type"]
    if kind == "record":
        full = _full_name(schema, namespace)
        named[full] = schema
        inner = full.rsplit(".", 1)[0] if "." in full else ""
        per_field = {f["name"]: _samples(f["type"], named, inner) for f in schema["fields"]}
        count = max((len(values) for values in per_field.values()), default=1)
        # Cycle each field's samples so every one of them appears in some record.
        return [
            {name: values[i % len(values)] for name, values in per_field.items()}
            for i in range(count)
        ]
    if kind == "enum":
        named[_full_name(schema, namespace)] = schema
        return list(schema["symbols"])
    if kind == "fixed":
        named[_full_name(schema, namespace)] = schema
        return [b"\x00" * schema["size"]]
    if kind == "array":
        return [[item] for item in _samples(schema["items"], named, namespace)] + [[]]
    if kind == "map":
        return [{"k": value} for value in _samples(schema["values"], named, namespace)] + [{}]
    return _samples(kind, named, namespace)


def _clip(value: object, limit: int = 200) -> str:
    # fastavro's messages can embed whole schemas; keep the report readable.
    text = str(value) if isinstance(value, Exception) else repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def check_backward_compatible(
    reader: dict[str, Any],
    writer: dict[str, Any],
    reader_name: str = "the new schema",
    writer_name: str = "the released schema",
) -> int:
    """Raise IncompatibleSchemaError unless `reader` can read all data `writer` can write.

    Returns the number of samples checked.
    """
    parsed: list[Any] = []
    for schema, name in ((writer, writer_name), (reader, reader_name)):
        try:
            parsed.append(parse_schema(schema))
        except Exception as exc:
            raise IncompatibleSchemaError(f"{name} is not a valid Avro schema: {exc}") from exc
    parsed_writer, parsed_reader = parsed
    data = samples(writer)
    for sample in data:
        buffer = BytesIO()
        schemaless_writer(buffer, parsed_writer, sample)
        buffer.seek(0)
        try:
            schemaless_reader(buffer, parsed_writer, parsed_reader)
        except Exception as exc:
            raise IncompatibleSchemaError(
                f"{reader_name} cannot read data written with {writer_name}: {_clip(exc)}\n"
                f"  sample written with {writer_name}: {_clip(sample, 400)}\n"
                "  Backward compatible changes: add a field WITH a default, add a union "
                "branch, remove a field, add an alias. Anything else needs a new family "
                "(see schemas/README.md)."
            ) from exc
    return len(data)
