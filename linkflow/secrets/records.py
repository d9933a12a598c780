"""Credentials as the `linkflow.credentials` topic holds them: key = the credential's name,
value = JSON {"name", "type", "data", "updated_at_ms"} where `data` is the Laravel
payload (`linkflow.secrets.laravel`) of the JSON object of the credential's fields; an
empty value (tombstone) deletes it. Compaction keeps the latest record per name, so a
worker rebuilds the set by reading the topic from the start.

The types, and the headers an http node sends with each (fields in brackets optional):

| type | fields | headers |
|---|---|---|
| `bearer` | token | `Authorization: Bearer <token>` |
| `basic` | username, password | `Authorization: Basic <base64 user:password>` |
| `api_key` | key, [header] (default `X-API-Key`) | `<header>: <key>` |
| `headers` | any names | each field as a header |
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linkflow.secrets import laravel

TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type: (required fields, optional fields)
    "bearer": (("token",), ()),
    "basic": (("username", "password"), ()),
    "api_key": (("key",), ("header",)),
    "headers": ((), ()),
}
DEFAULT_API_KEY_HEADER = "X-API-Key"


class CredentialError(ValueError):
    """A credential that cannot be stored or used; never holds a secret value."""


def check_fields(kind: str, fields: Any) -> dict[str, str]:
    """The fields of a credential of type `kind` (strings), or CredentialError naming the
    field (never its value)."""
    if kind not in TYPES:
        raise CredentialError(f"unknown type {kind!r} (one of {', '.join(TYPES)})")
    if not isinstance(fields, Mapping) or not fields:
        raise CredentialError("'data' must be a non-empty object of string fields")
    required, optional = TYPES[kind]
    for name, value in fields.items():
        if not isinstance(name, str) or not isinstance(value, str) or not value:
            raise CredentialError(f"field {name!r} must be a non-empty string")
        if kind != "headers" and name not in required + optional:
            raise CredentialError(f"field {name!r} is not one of {kind}'s fields")
    missing = [name for name in required if name not in fields]
    if missing:
        raise CredentialError(f"{kind} needs the field(s) {', '.join(missing)}")
    return {str(k): str(v) for k, v in fields.items()}


def headers_of(kind: str, fields: Mapping[str, str]) -> dict[str, str]:
    if kind == "bearer":
        return {"Authorization": f"Bearer {fields['token']}"}
    if kind == "basic":
        pair = f"{fields['username']}:{fields['password']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    if kind == "api_key":
        return {fields.get("header", DEFAULT_API_KEY_HEADER): fields["key"]}
    return dict(fields)


@dataclass(frozen=True, slots=True)
class StoredCredential:
    name: str
    type: str
    data: str  # the Laravel payload of the fields' JSON
    updated_at_ms: int

    def to_value(self) -> bytes:
        record = {
            "name": self.name,
            "type": self.type,
            "data": self.data,
            "updated_at_ms": self.updated_at_ms,
        }
        return json.dumps(record, separators=(",", ":")).encode()

    @classmethod
    def from_value(cls, value: bytes) -> StoredCredential:
        try:
            record = json.loads(value)
            return cls(
                str(record["name"]),
                str(record["type"]),
                str(record["data"]),
                int(record.get("updated_at_ms") or 0),
            )
        except (ValueError, TypeError, KeyError):
            raise CredentialError("not a credential record") from None

    @classmethod
    def seal(cls, key: bytes, name: str, kind: str, fields: Any, now_ms: int) -> StoredCredential:
        checked = check_fields(kind, fields)
        payload = laravel.encrypt(key, json.dumps(checked, separators=(",", ":")).encode())
        return cls(name, kind, payload, now_ms)

    def open(self, key: bytes) -> dict[str, str]:
        """The decrypted fields."""
        try:
            fields = json.loads(laravel.decrypt(key, self.data))
        except laravel.CipherError as exc:
            raise CredentialError(f"credential {self.name!r} does not decrypt: {exc}") from None
        except ValueError:
            raise CredentialError(f"credential {self.name!r} is not a JSON object") from None
        return check_fields(self.type, fields)

    def summary(self) -> dict[str, Any]:
        """What the API shows: never the data."""
        return {"name": self.name, "type": self.type, "updated_at_ms": self.updated_at_ms}
