"""Schema changes stay backward compatible with every released snapshot.

Messages written with a released schema are on the topics (history is kept forever), so
the current schema must read them, and the codec must recognise their fingerprints.
See schemas/README.md for how to change a schema and cut a release.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from linkflow.codec import FAMILIES, Codec, DecodeError, DecodeReason, codec
from linkflow.codec.compat import IncompatibleSchemaError, check_backward_compatible, samples
from linkflow.codec.families import HISTORY, TASKS
from linkflow.codec.framing import schema_fingerprint
from linkflow.codec.release import cut_release
from linkflow.codec.store import SCHEMA_DIR, load_current, load_manifest, load_released

Schema = dict[str, Any]

RELEASED = [
    (family, version, schema) for family in FAMILIES for version, schema in load_released(family)
]


def union_names(schema: Schema, family: str) -> list[str]:
    field = next(f for f in schema["fields"] if f["name"] == FAMILIES[family].union_field)
    return [branch["name"] for branch in field["type"]]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_has_a_released_snapshot(family: str) -> None:
    assert load_released(family), f"schemas/released/{family}/v1.avsc is missing"


@pytest.mark.parametrize(
    ("family", "version", "released"), RELEASED, ids=[f"{f}-v{v}" for f, v, _ in RELEASED]
)
def test_current_schema_reads_data_of_every_release(
    family: str, version: int, released: Schema
) -> None:
    checked = check_backward_compatible(
        load_current(family),
        released,
        reader_name=f"schemas/{family}.avsc",
        writer_name=f"schemas/released/{family}/v{version}.avsc",
    )
    assert checked >= len(union_names(released, family))


@pytest.mark.parametrize(
    ("family", "version", "released"), RELEASED, ids=[f"{f}-v{v}" for f, v, _ in RELEASED]
)
def test_type_names_are_never_removed_or_renamed(
    family: str, version: int, released: Schema
) -> None:
    # Old messages carry the type name as a string in the envelope, so even a rename that
    # Avro accepts (with an alias) would orphan them.
    missing = set(union_names(released, family)) - set(union_names(load_current(family), family))
    assert not missing, (
        f"schemas/{family}.avsc no longer has {sorted(missing)}, which "
        f"released/{family}/v{version}.avsc has: type names are forever"
    )


def test_released_snapshots_are_frozen() -> None:
    manifest = load_manifest()
    on_disk = {
        family: {f"v{version}": schema_fingerprint(schema).hex() for version, schema in released}
        for family in FAMILIES
        if (released := load_released(family))
    }
    assert on_disk == manifest, (
        "schemas/released/ differs from schemas/released/manifest.json. Released snapshots "
        "must never change: messages on the topics carry their fingerprints. Restore the "
        "snapshot, and cut a new release instead (see schemas/README.md)."
    )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_current_schema_is_released(family: str) -> None:
    version, latest = load_released(family)[-1]
    assert schema_fingerprint(load_current(family)) == schema_fingerprint(latest), (
        f"schemas/{family}.avsc differs from its latest release v{version}: producers would "
        "write a fingerprint no release records. When the change is final, run "
        f"`.venv/bin/python -m linkflow.codec.release {family}` (see schemas/README.md)."
    )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_codec_knows_every_released_fingerprint(family: str) -> None:
    released = {bytes.fromhex(fp) for fp in load_manifest()[family].values()}
    assert released <= codec(family).known_fingerprints


# --- the check itself catches breaking changes -----------------------------------------

BASE = load_current("history")


def _branch(schema: Schema, name: str) -> Schema:
    return next(b for b in schema["fields"][4]["type"] if b["name"] == name)


def _field(schema: Schema, record: str, name: str) -> Schema:
    return next(f for f in _branch(schema, record)["fields"] if f["name"] == name)


def _add_required_field(s: Schema) -> None:
    _branch(s, "NodeCompleted")["fields"].append({"name": "duration_ms", "type": "long"})


def _add_required_envelope_field(s: Schema) -> None:
    s["fields"].insert(3, {"name": "partition", "type": "int"})


def _remove_union_branch(s: Schema) -> None:
    s["fields"][4]["type"] = [b for b in s["fields"][4]["type"] if b["name"] != "TimerCanceled"]


def _change_type(s: Schema) -> None:
    _field(s, "ActivityTaskStarted", "attempt")["type"] = "string"


def _narrow_type(s: Schema) -> None:
    s["fields"][1]["type"] = "int"  # event_id: long -> int


def _make_required(s: Schema) -> None:
    field = _field(s, "TimerStarted", "node_id")
    field["type"] = "string"
    del field["default"]


def _rename_field(s: Schema) -> None:
    _field(s, "TimerFired", "timer_id")["name"] = "id"


def _rename_record(s: Schema) -> None:
    _branch(s, "MarkerRecorded")["name"] = "Marker"


def _change_map_values(s: Schema) -> None:
    _field(s, "WorkflowExecutionStarted", "search_attributes")["type"]["values"] = "long"


def _remove_error_field_default(s: Schema) -> None:
    error = _field(s, "WorkflowExecutionFailed", "error")["type"]
    error["fields"].append({"name": "code", "type": "int"})


BREAKING: dict[str, tuple[Callable[[Schema], None], str]] = {
    "new field without default": (_add_required_field, "No default value for field duration_ms"),
    "new envelope field without default": (_add_required_envelope_field, "partition"),
    "removed union branch": (_remove_union_branch, "TimerCanceled"),
    "int changed to string": (_change_type, "int is not string"),
    "long narrowed to int": (_narrow_type, "long is not int"),
    "optional made required": (_make_required, "null"),
    "renamed field without alias": (_rename_field, "No default value for field id"),
    "renamed record without alias": (_rename_record, "MarkerRecorded"),
    "map values changed": (_change_map_values, "map"),
    "new field in a nested record": (_remove_error_field_default, "field code"),
}


def _add_optional_field(s: Schema) -> None:
    _branch(s, "NodeCompleted")["fields"].append(
        {"name": "duration_ms", "type": ["null", "long"], "default": None, "doc": "d"}
    )


def _add_union_branch(s: Schema) -> None:
    s["fields"][4]["type"].append(
        {"type": "record", "name": "NodePaused", "namespace": "io.linkflow.v1.history",
         "fields": [{"name": "node_id", "type": "string"}]}
    )  # fmt: skip


def _remove_field(s: Schema) -> None:
    _branch(s, "NodeCompleted")["fields"].pop()


def _widen_int(s: Schema) -> None:
    _field(s, "ActivityTaskStarted", "attempt")["type"] = "long"


def _rename_field_with_alias(s: Schema) -> None:
    field = _field(s, "TimerFired", "timer_id")
    field["name"], field["aliases"] = "id", ["timer_id"]


def _make_optional(s: Schema) -> None:
    _field(s, "TimerFired", "timer_id")["type"] = ["null", "string"]


def _edit_docs(s: Schema) -> None:
    s["doc"] = "reworded"
    _field(s, "NodeCompleted", "handle")["doc"] = "reworded"


COMPATIBLE: dict[str, Callable[[Schema], None]] = {
    "new optional field": _add_optional_field,
    "new union branch": _add_union_branch,
    "removed field": _remove_field,
    "int widened to long": _widen_int,
    "renamed field with alias": _rename_field_with_alias,
    "required made optional": _make_optional,
    "docs edited": _edit_docs,
}


def mutated(change: Callable[[Schema], None]) -> Schema:
    schema = copy.deepcopy(BASE)
    change(schema)
    return schema


@pytest.mark.parametrize("name", sorted(BREAKING))
def test_check_rejects_breaking_change(name: str) -> None:
    change, expected = BREAKING[name]
    with pytest.raises(IncompatibleSchemaError) as caught:
        check_backward_compatible(mutated(change), BASE, "new.avsc", "released/v1.avsc")
    message = str(caught.value)
    assert "new.avsc cannot read data written with released/v1.avsc" in message
    assert expected in message


@pytest.mark.parametrize("name", sorted(COMPATIBLE))
def test_check_accepts_compatible_change(name: str) -> None:
    check_backward_compatible(mutated(COMPATIBLE[name]), BASE)


def test_invalid_schema_is_reported_as_such() -> None:
    broken = mutated(lambda s: _field(s, "TimerStarted", "node_id").update(type="string"))
    with pytest.raises(IncompatibleSchemaError, match="new is not a valid Avro schema"):
        check_backward_compatible(broken, BASE, reader_name="new")


def test_samples_visit_every_union_branch_and_null() -> None:
    data = samples(BASE)
    assert {s["attributes"][0].rsplit(".", 1)[1] for s in data} == set(union_names(BASE, "history"))
    started = [s["attributes"][1] for s in data if s["attributes"][0].endswith(".TimerStarted")]
    assert {s["node_id"] is None for s in started} == {True, False}


# --- the codec reads what older releases wrote -------------------------------------------

EVENT = {
    "execution_id": "e-1",
    "event_id": 7,
    "timestamp_ms": 1_700_000_000_000,
    "event_type": "NodeCompleted",
    "attributes": {"node_id": "n", "scope": "", "output": {"ok": True}, "handle": "success"},
}


def test_codec_decodes_data_written_by_an_older_release() -> None:
    v1 = BASE
    v2 = mutated(lambda s: (_add_optional_field(s), _add_union_branch(s)))
    old, new = Codec(HISTORY, v1), Codec(HISTORY, v2, released=[v1])
    assert old.fingerprint != new.fingerprint

    decoded = new.decode(old.encode(EVENT))

    assert decoded == {**EVENT, "attributes": {**EVENT["attributes"], "duration_ms": None}}
    # The reverse (a consumer older than the producer) is a dead letter, not a crash.
    newer = new.encode({**EVENT, "attributes": {**EVENT["attributes"], "duration_ms": 5}})
    with pytest.raises(DecodeError) as caught:
        old.decode(newer)
    assert caught.value.reason == DecodeReason.UNKNOWN_FINGERPRINT


def test_codec_decodes_one_branch_release_after_the_union_grows() -> None:
    v1 = load_current("tasks")
    v2 = copy.deepcopy(v1)
    v2["fields"][2]["type"].insert(
        0,
        {"type": "record", "name": "FutureTask", "namespace": "io.linkflow.v1.tasks",
         "fields": [{"name": "activity_id", "type": "string"}]},
    )  # fmt: skip
    task = {
        "execution_id": "e", "task_type": "ActivityTask", "activity_id": "a", "attempt": 1,
        "node_id": "n", "node_type": "http", "scope": "", "input": {}, "workflow_id": "w",
        "workflow_version": 1, "scheduled_at_ms": 0, "start_to_close_ms": None,
        "heartbeat_ms": None,
    }  # fmt: skip

    decoded = Codec(TASKS, v2, released=[v1]).decode(Codec(TASKS, v1).encode(task))

    assert decoded == {**task, "workspace": "default", "schedule_to_start_ms": None}


# --- cutting a release -----------------------------------------------------------------


@pytest.fixture
def schema_copy(tmp_path: Path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, root)
    return root


def test_cut_release_is_a_no_op_when_current_is_released(schema_copy: Path) -> None:
    assert cut_release("history", schema_copy) is None
    assert load_manifest(schema_copy) == load_manifest()


def test_cut_release_snapshots_a_compatible_change(schema_copy: Path) -> None:
    changed = mutated(_add_optional_field)
    (schema_copy / "history.avsc").write_text(json.dumps(changed, indent=2))

    released = load_manifest()["history"]
    next_version = f"v{len(released) + 1}"

    target = cut_release("history", schema_copy)

    assert target == schema_copy / "released" / "history" / f"{next_version}.avsc"
    assert json.loads(target.read_text()) == changed
    fingerprints = load_manifest(schema_copy)["history"]
    assert fingerprints[next_version] == schema_fingerprint(changed).hex()
    assert all(fingerprints[v] == fp for v, fp in released.items())


def test_cut_release_refuses_a_breaking_change(schema_copy: Path) -> None:
    (schema_copy / "history.avsc").write_text(json.dumps(mutated(_add_required_field)))

    with pytest.raises(IncompatibleSchemaError):
        cut_release("history", schema_copy)

    next_version = f"v{len(load_manifest()['history']) + 1}"
    assert not (schema_copy / "released" / "history" / f"{next_version}.avsc").exists()
    assert load_manifest(schema_copy) == load_manifest()


def test_defaults_filled_in_for_old_data_are_not_shared() -> None:
    v2 = mutated(
        lambda s: _branch(s, "NodeCompleted")["fields"].append(
            {"name": "tags", "type": {"type": "map", "values": "string"}, "default": {}}
        )
    )
    old, new = Codec(HISTORY, BASE), Codec(HISTORY, v2, released=[BASE])

    first = new.decode(old.encode(EVENT))
    first["attributes"]["tags"]["mutated"] = "by a consumer"
    second = new.decode(old.encode(EVENT))

    assert second["attributes"]["tags"] == {}
