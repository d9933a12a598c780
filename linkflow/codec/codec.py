"""Encode and decode one message family with fastavro and single-object framing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from copy import deepcopy
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from linkflow.codec import direct, jsonfield, schema_facts
from linkflow.codec.errors import DecodeError, DecodeReason, EncodeError
from linkflow.codec.families import Family
from linkflow.codec.framing import HEADER_SIZE, MARKER, read_header, schema_fingerprint
from linkflow.codec.store import Schema

Message = dict[str, Any]

jsonfield.register()


class Codec:
    """Encoder/decoder for one family: writes the current schema, reads current and released.

    Messages are dicts with plain values for JSON fields. A family with `flat` messages
    takes and gives the envelope fields, the type field and the typed record's fields in
    one dict (the shape docs/events.md lists); otherwise the typed record stays nested
    under the union field, as in a history event.

    Schemas are parsed once here; per message there is one fastavro call each way plus a
    dict copy and a few lookups.
    """

    def __init__(self, family: Family, current: Schema, released: Iterable[Schema] = ()) -> None:
        self.family = family
        self._type_field = family.type_field
        self._union_field = family.union_field
        self._flat = family.flat
        self._named: dict[str, Any] = {}  # the schema's named types, for direct.write_data
        self._schema = parse_schema(current, self._named)
        self.fingerprint = schema_fingerprint(current)
        self._header = MARKER + self.fingerprint

        self._full_name = schema_facts.branch_names(current, family)
        self._short_name = {full: short for short, full in self._full_name.items()}
        self.type_names: frozenset[str] = frozenset(self._full_name)
        # A family with one type needs no type field from the caller.
        self._default_type = next(iter(self._full_name)) if len(self._full_name) == 1 else None
        self._envelope = schema_facts.envelope_fields(current, family)
        self._not_attributes = frozenset((*self._envelope, self._type_field))
        if self._flat:
            for name, fields in schema_facts.branch_fields(current, family).items():
                clash = self._not_attributes.intersection(fields)
                if clash:
                    raise ValueError(f"{name} repeats envelope fields {sorted(clash)}")

        # Branch names let decode check the type field against the union branch. fastavro
        # would also return nested record unions (an optional Error) as (name, record)
        # unless told to name only multi-record unions, which costs ~10% of a decode; so
        # pay for that only in families that have such unions.
        nested = any(
            schema_facts.has_named_union(branch)
            for branch in schema_facts.union_field(current, family)["type"]
        )
        self._name_multi_record_unions_only = nested

        # Filling a field missing from an old writer, fastavro hands out the default object
        # of the schema itself; copy such records so that no caller can mutate a default.
        self._copy_resolved = schema_facts.has_container_default(current)

        # fingerprint -> (writer schema, reader schema or None when no resolution is needed,
        # the named types of both for direct.read_data)
        self._readers: dict[bytes, tuple[Any, Any, dict[str, Any]]] = {
            self.fingerprint: (self._schema, None, {"writer": self._named, "reader": {}})
        }
        for old in released:
            fp = schema_fingerprint(old)
            if fp not in self._readers:
                named: dict[str, Any] = {"writer": {}, "reader": dict(self._named)}
                self._readers[fp] = (parse_schema(old, named["writer"]), self._schema, named)
        self._read_options = direct.read_options(self._name_multi_record_unions_only)
        self._direct = direct.AVAILABLE

    @property
    def known_fingerprints(self) -> frozenset[bytes]:
        """Fingerprints this codec can decode (current and released writers)."""
        return frozenset(self._readers)

    def encode(self, message: Mapping[str, Any]) -> bytes:
        """Single-object encoded bytes of `message`; EncodeError if it does not fit."""
        family = self.family.name
        try:
            type_name = message.get(self._type_field, self._default_type)
            if self._flat:
                record = {k: message[k] for k in self._envelope if k in message}
                attributes = {k: v for k, v in message.items() if k not in self._not_attributes}
            else:
                record = dict(message)
                attributes = message[self._union_field]
        except KeyError as exc:
            raise EncodeError(f"{family} message has no {exc}") from None
        except (TypeError, AttributeError):
            raise EncodeError(f"a {family} message is a mapping, not {type(message)}") from None
        full_name = self._full_name.get(type_name) if isinstance(type_name, str) else None
        if full_name is None:
            if type_name is None:
                raise EncodeError(f"{family} message has no {self._type_field!r}")
            raise EncodeError(
                f"unknown {self._type_field} {type_name!r} for {family}; "
                f"known: {sorted(self.type_names)}"
            )
        record[self._type_field] = type_name
        # Tuple notation names the union branch: several branches have the same fields
        # (TimerFired/TimerCanceled), so fastavro must not guess from the dict's keys.
        record[self._union_field] = (full_name, attributes)
        try:
            if self._direct:
                out = bytearray(self._header)
                direct.write(out, record, self._schema, self._named)
                return bytes(out)
            buffer = BytesIO()
            buffer.write(self._header)
            schemaless_writer(buffer, self._schema, record, strict_allow_default=True)
        except Exception as exc:
            raise EncodeError(f"cannot encode {family} {type_name}: {exc}") from exc
        return buffer.getvalue()

    def decode(self, data: bytes) -> Message:
        """The message encoded in `data`; DecodeError for anything this codec cannot read."""
        fingerprint = read_header(data)
        schemas = self._readers.get(fingerprint)
        if schemas is None:
            raise DecodeError(
                DecodeReason.UNKNOWN_FINGERPRINT,
                f"fingerprint {fingerprint.hex()} is not a known {self.family.name} schema",
                fingerprint,
            )
        buffer = BytesIO(data)
        buffer.seek(HEADER_SIZE)
        try:
            if self._direct:
                record = direct.read(buffer, schemas[0], schemas[1], schemas[2], self._read_options)
            else:
                record = schemaless_reader(
                    buffer,
                    schemas[0],
                    schemas[1],
                    return_record_name=True,
                    return_record_name_override=self._name_multi_record_unions_only,
                )
        except Exception as exc:
            # fastavro reports running out of input as EOFError, or as IndexError when the
            # end falls inside a varint (then the reader has consumed everything there was).
            ran_out = isinstance(exc, EOFError) or (
                isinstance(exc, IndexError) and buffer.tell() >= len(data)
            )
            reason = DecodeReason.TRUNCATED if ran_out else DecodeReason.MALFORMED
            raise DecodeError(reason, f"{type(exc).__name__}: {exc}", fingerprint) from exc
        if buffer.tell() != len(data):
            raise DecodeError(
                DecodeReason.MALFORMED,
                f"{len(data) - buffer.tell()} bytes after the end of the record",
                fingerprint,
            )
        if self._copy_resolved and schemas[1] is not None:
            record = deepcopy(record)
        return self._unwrap(record, fingerprint)

    def _unwrap(self, record: Message, fingerprint: bytes) -> Message:
        attributes = record[self._union_field]
        type_name = record[self._type_field]
        if type(attributes) is tuple:
            full_name, attributes = attributes
            matches = self._short_name.get(full_name) == type_name
        else:
            # fastavro returns the record of a one-record union without its name
            matches = type_name in self._full_name
        if not matches:
            raise DecodeError(
                DecodeReason.MALFORMED,
                f"{self._type_field} {type_name!r} does not match the {self._union_field} record",
                fingerprint,
            )
        if self._flat:
            del record[self._union_field]
            record.update(attributes)
        else:
            record[self._union_field] = attributes
        return record
