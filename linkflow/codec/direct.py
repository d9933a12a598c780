"""fastavro's compiled writer and reader, called without their per-call schema preparation.

`schemaless_writer` and `schemaless_reader` parse the schema again on every call: for an
already parsed schema that means copying its named types (31 in the history family) into a
fresh dict, about 1.2 us of the 5-7 us a small event takes each way. The functions they
call next (`write_data`, `_read_data`) are importable from fastavro's compiled modules; a
codec that parsed its schemas once calls them with the named types it kept.

They are not fastavro's documented interface, so `AVAILABLE` is only true when they import
and give the same bytes and the same record as the public functions on a probe record
covering the kinds of fields LinkFlow's schemas use; otherwise codecs use the public
functions. tests/unit/test_codec_roundtrip.py compares the two on every schema type.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from linkflow.codec import jsonfield

WRITE_OPTIONS = {"strict": False, "strict_allow_default": True, "disable_tuple_notation": False}


def read_options(name_multi_record_unions_only: bool) -> dict[str, Any]:
    return {
        "return_record_name": True,
        "return_record_name_override": name_multi_record_unions_only,
        "handle_unicode_errors": "strict",
        "return_named_type": False,
        "return_named_type_override": False,
    }


_Call = Callable[..., Any]


def _compiled() -> tuple[_Call | None, _Call | None]:
    try:
        from fastavro import _read, _write
    except ImportError:  # a fastavro without its compiled modules
        return None, None
    return getattr(_write, "write_data", None), getattr(_read, "_read_data", None)


write_data, read_data = _compiled()

_PROBE_SCHEMA = {
    "type": "record",
    "name": "Probe",
    "namespace": "io.linkflow.probe",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "n", "type": "long"},
        {"name": "maybe", "type": ["null", "long"], "default": None},
        {"name": "payload", "type": {"type": "bytes", "logicalType": "json"}},
        {
            "name": "attributes",
            "type": [
                {"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}]},
                {"type": "record", "name": "B", "fields": [{"name": "x", "type": "int"}]},
            ],
        },
    ],
}
_PROBE = {
    "id": "probe",
    "n": -12345678901,
    "maybe": 7,
    "payload": {"k": [1, "two", None]},
    "attributes": ("io.linkflow.probe.B", {"x": 3}),
}


def _works() -> bool:
    if write_data is None or read_data is None:
        return False
    try:
        named: dict[str, Any] = {}
        schema = parse_schema(_PROBE_SCHEMA, named)
        public = BytesIO()
        schemaless_writer(public, schema, _PROBE, strict_allow_default=True)
        direct = bytearray()
        write_data(direct, _PROBE, schema, named, "", WRITE_OPTIONS)
        if bytes(direct) != public.getvalue():
            return False
        expected = schemaless_reader(BytesIO(bytes(direct)), schema, None, return_record_name=True)
        got = read_data(
            BytesIO(bytes(direct)),
            schema,
            {"writer": named, "reader": {}},
            None,
            read_options(False),
        )
        return bool(got == expected)
    except Exception:  # any change in those functions: use the public ones
        return False


def write(out: bytearray, record: Any, schema: Any, named: dict[str, Any]) -> None:
    """Append the Avro encoding of `record` to `out` (only when AVAILABLE)."""
    assert write_data is not None
    write_data(out, record, schema, named, "", WRITE_OPTIONS)


def read(
    buffer: BytesIO, writer: Any, reader: Any, named: dict[str, Any], options: dict[str, Any]
) -> Any:
    """The record at `buffer`'s position (only when AVAILABLE); `named` holds the writer's
    and the reader's named types under "writer" and "reader"."""
    assert read_data is not None
    return read_data(buffer, writer, named, reader, options)


jsonfield.register()  # the probe's payload field needs it, as every codec does
AVAILABLE = _works()
