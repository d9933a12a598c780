"""The schemas say what docs/events.md says, are documented, and follow one convention.

docs/events.md is the binding vocabulary shared with the engine; the .avsc files are the
public contract for producers and analytics consumers. This test keeps them in step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from linkflow.codec import FAMILIES, codec
from linkflow.codec.framing import MARKER
from linkflow.codec.store import SCHEMA_DIR, load_current

EVENTS_MD = Path(__file__).resolve().parents[2] / "docs" / "events.md"
JSON = {"type": "bytes", "logicalType": "json"}
Schema = dict[str, Any]

# --- reading docs/events.md ------------------------------------------------------------


def _tables(text: str) -> dict[str, dict[str, str]]:
    """{first header cell: {row name: second cell}} for every table (escaped \\| kept)."""
    tables: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) < 2:
            current = None
        elif set(cells[0]) <= {"-", ":"}:
            continue
        elif current is None:
            current = tables.setdefault(cells[0], {})
        else:
            current[cells[0]] = cells[1]
    return tables


def parse_fields(spec: str, untyped: str | None) -> dict[str, str | None]:
    """'a: string, b|null, c: map<string,string>' -> {a: 'string', b: 'string|null', ...}.

    Names listed without a type get `untyped` (None: the type is not checked).
    """
    spec = re.sub(r"\([^)]*\)", "", spec).replace("\\|", "|")
    fields: dict[str, str | None] = {}
    for token in re.split(r",(?![^<]*>)", spec):
        token = token.strip()
        if not token:
            continue
        name, colon, kind = token.partition(":")
        name = name.strip()
        if not colon:
            nullable = name.endswith("|null")
            name = name.removesuffix("|null")
            fields[name] = None if untyped is None else untyped + ("|null" if nullable else "")
        else:
            fields[name] = kind.split("=")[0].strip().replace(" ", "")
    return fields


def _prose_fields(text: str, lead: str) -> dict[str, str | None]:
    flat = " ".join(text.split())
    match = re.search(re.escape(lead) + r".*?carries: ([^.]*)\.", flat)
    assert match, f"docs/events.md no longer has the '{lead} ... carries:' sentence"
    return parse_fields(match.group(1), None)


DOCS = EVENTS_MD.read_text(encoding="utf-8")
TABLES = _tables(DOCS)
HISTORY_DOC = {name: parse_fields(spec, "string") for name, spec in TABLES["event_type"].items()}
INPUTS_DOC = {name: parse_fields(spec, "string") for name, spec in TABLES["input"].items()}
ENVELOPE_DOC = {name: spec for name, spec in TABLES["field"].items()}
ERROR_DOC = parse_fields(re.search(r"Error \{([^}]*)\}", DOCS).group(1), "string")  # type: ignore[union-attr]
TASK_DOC = _prose_fields(DOCS, "An activity task")
DEFINITION_DOC = _prose_fields(DOCS, "A workflow definition record")

# --- reading the schemas ---------------------------------------------------------------


def doc_type(avro: Any) -> str:
    """The docs' spelling of an Avro type."""
    if isinstance(avro, list):
        assert avro[0] == "null" and len(avro) == 2, f"unexpected union {avro}"
        return doc_type(avro[1]) + "|null"
    if avro == JSON:
        return "json"
    if isinstance(avro, dict):
        if avro["type"] == "map":
            return f"map<string,{doc_type(avro['values'])}>"
        if avro["type"] == "record":
            return str(avro["name"])
        if avro["type"] == "array" and isinstance(avro["items"], dict):
            # As the docs' table reads once its spaces are dropped.
            inner = ",".join(f"{f['name']}:{doc_type(f['type'])}" for f in avro["items"]["fields"])
            return f"array<{{{inner}}}>"
        raise AssertionError(f"unexpected type {avro}")
    return {"boolean": "bool", "io.linkflow.v1.Error": "Error"}.get(avro, avro)


def fields_of(record: Schema, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {f["name"]: doc_type(f["type"]) for f in record["fields"] if f["name"] not in skip}


def branches(family: str) -> dict[str, Schema]:
    schema = load_current(family)
    union = next(f for f in schema["fields"] if f["name"] == FAMILIES[family].union_field)
    return {b["name"]: b for b in union["type"]}


def envelope(family: str) -> dict[str, str]:
    fam = FAMILIES[family]
    return fields_of(load_current(family), skip=(fam.type_field, fam.union_field))


# --- the vocabulary --------------------------------------------------------------------


def test_docs_parse_as_expected() -> None:
    assert len(HISTORY_DOC) == 28
    assert len(INPUTS_DOC) == 11
    assert HISTORY_DOC["WorkflowExecutionStarted"]["search_attributes"] == "map<string,string>"
    assert INPUTS_DOC["StartWorkflow"]["workflow_version"] == "int|null"
    assert INPUTS_DOC["StartWorkflow"]["idempotency_key"] == "string|null"


def test_history_envelope_matches_docs() -> None:
    schema = load_current("history")
    assert [f["name"] for f in schema["fields"]] == list(ENVELOPE_DOC)
    for name, kind in fields_of(schema, skip=("attributes",)).items():
        assert kind == ENVELOPE_DOC[name], name


def test_history_event_types_match_docs() -> None:
    assert list(branches("history")) == list(HISTORY_DOC)


@pytest.mark.parametrize("event_type", list(HISTORY_DOC))
def test_history_attributes_match_docs(event_type: str) -> None:
    assert fields_of(branches("history")[event_type]) == HISTORY_DOC[event_type]


def test_error_record_matches_docs() -> None:
    error = branches("history")["WorkflowExecutionFailed"]["fields"][0]["type"]
    assert fields_of(error) == ERROR_DOC
    assert next(f for f in error["fields"] if f["name"] == "retryable")["default"] is True
    assert error == branches("results")["ActivityFailed"]["fields"][2]["type"]


def test_commands_and_results_cover_the_inputs() -> None:
    assert set(branches("commands")) == {
        "StartWorkflow", "SignalWorkflow", "CancelWorkflow", "TerminateWorkflow", "ResetWorkflow"
    }  # fmt: skip
    assert set(branches("commands")) | set(branches("results")) == set(INPUTS_DOC)
    assert not set(branches("commands")) & set(branches("results"))


@pytest.mark.parametrize("input_type", list(INPUTS_DOC))
def test_input_fields_match_docs(input_type: str) -> None:
    family = "commands" if input_type in branches("commands") else "results"
    actual = {**envelope(family), **fields_of(branches(family)[input_type])}
    # "Every input carries sent_at_ms: long"
    assert actual == {**INPUTS_DOC[input_type], "sent_at_ms": "long"}


def _matches(actual: dict[str, str], documented: dict[str, str | None]) -> None:
    assert set(actual) == set(documented)
    for name, kind in documented.items():
        if kind is not None:
            assert actual[name] == kind, name
        elif name.endswith("_ms") and documented is TASK_DOC:
            assert actual[name] in ("long", "long|null"), name


def test_activity_task_matches_docs() -> None:
    actual = {**envelope("tasks"), **fields_of(branches("tasks")["ActivityTask"])}
    _matches(actual, TASK_DOC)
    assert actual["start_to_close_ms"] == "long|null"
    assert actual["heartbeat_ms"] == "long|null"


def test_workflow_definition_matches_docs() -> None:
    _matches(fields_of(branches("definitions")["WorkflowDefinition"]), DEFINITION_DOC)


# --- conventions -----------------------------------------------------------------------


def _records(schema: Any) -> list[Schema]:
    if isinstance(schema, list):
        return [r for branch in schema for r in _records(branch)]
    if isinstance(schema, dict) and schema.get("type") == "record":
        inner = [r for f in schema["fields"] for r in _records(f["type"])]
        return [schema, *inner]
    if isinstance(schema, dict) and schema.get("type") == "map":
        return _records(schema["values"])
    return []


ALL_RECORDS = [(family, r) for family in FAMILIES for r in _records(load_current(family))]


@pytest.mark.parametrize(
    ("family", "record"), ALL_RECORDS, ids=[f"{f}-{r['name']}" for f, r in ALL_RECORDS]
)
def test_every_record_and_field_is_documented(family: str, record: Schema) -> None:
    assert record.get("doc", "").strip(), f"{family}: record {record['name']} has no doc"
    for field in record["fields"]:
        assert field.get("doc", "").strip(), f"{family}: {record['name']}.{field['name']}"


@pytest.mark.parametrize(
    ("family", "record"), ALL_RECORDS, ids=[f"{f}-{r['name']}" for f, r in ALL_RECORDS]
)
def test_nullable_fields_default_to_null(family: str, record: Schema) -> None:
    for field in record["fields"]:
        if isinstance(field["type"], list) and field["name"] != FAMILIES[family].union_field:
            assert field["type"][0] == "null", f"{record['name']}.{field['name']}"
            assert "default" in field and field["default"] is None, field["name"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_namespaces(family: str) -> None:
    schema = load_current(family)
    assert schema["namespace"] == "io.linkflow.v1"
    for name, branch in branches(family).items():
        assert branch["namespace"] == f"io.linkflow.v1.{family}", name


def test_schema_files_are_the_ones_the_codec_loads() -> None:
    assert sorted(p.stem for p in SCHEMA_DIR.glob("*.avsc")) == sorted(FAMILIES)


# --- single-object encoding, checked against the Avro spec -----------------------------


def _rabin64(data: bytes) -> int:
    """CRC-64-AVRO as written out in the Avro specification."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_rabin_reference_vector() -> None:
    # Avro's schema-tests: the canonical form "null" has fingerprint 7195948357588979594.
    assert _rabin64(b'"null"') == 7195948357588979594


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_header_is_marker_and_little_endian_rabin_of_canonical_form(family: str) -> None:
    from fastavro.schema import to_parsing_canonical_form

    canonical = to_parsing_canonical_form(load_current(family)).encode()
    expected = _rabin64(canonical).to_bytes(8, "little")

    assert codec(family).fingerprint == expected
    assert bytes([0xC3, 0x01]) == MARKER
