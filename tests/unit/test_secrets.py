"""Credentials at rest: the Laravel-compatible cipher (checked against OpenSSL's AES, an
implementation of its own), the credential records and the scrubbing of secret values."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess

import pytest

from linkflow.secrets import laravel
from linkflow.secrets.records import CredentialError, StoredCredential, check_fields, headers_of
from linkflow.secrets.redact import REDACTED, redact, secrets_of

KEY_TEXT = "base64:" + base64.b64encode(bytes(range(32))).decode()
KEY = laravel.parse_key(KEY_TEXT)


def _laravel_payload(key: bytes, iv: bytes, plaintext: bytes) -> str:
    """A payload made the way Laravel makes one, with OpenSSL doing the AES."""
    assert shutil.which("openssl"), "openssl is part of the base system"
    ciphertext = subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-K", key.hex(), "-iv", iv.hex()],
        input=plaintext,
        capture_output=True,
        check=True,
    ).stdout
    iv_b64 = base64.b64encode(iv).decode()
    value_b64 = base64.b64encode(ciphertext).decode()
    mac = hmac.new(key, (iv_b64 + value_b64).encode(), hashlib.sha256).hexdigest()
    payload = {"iv": iv_b64, "value": value_b64, "mac": mac, "tag": ""}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def test_payloads_made_elsewhere_decrypt_and_ours_decrypt_elsewhere() -> None:
    iv = os.urandom(16)
    assert laravel.decrypt(KEY, _laravel_payload(KEY, iv, b'{"token":"t0k3n"}')) == (
        b'{"token":"t0k3n"}'
    )
    # PHP's serialize() of a string, as Laravel's encrypt() (not encryptString) writes.
    assert laravel.decrypt(KEY, _laravel_payload(KEY, iv, b's:5:"hello";')) == b"hello"

    ours = json.loads(base64.b64decode(laravel.encrypt(KEY, b"secret value")))
    assert set(ours) == {"iv", "value", "mac", "tag"}
    plain = subprocess.run(
        ["openssl", "enc", "-d", "-aes-256-cbc", "-K", KEY.hex(), "-iv",
         base64.b64decode(ours["iv"]).hex()],
        input=base64.b64decode(ours["value"]),
        capture_output=True,
        check=True,
    ).stdout  # fmt: skip
    assert plain == b"secret value"


def test_a_changed_payload_or_another_key_is_refused() -> None:
    payload = laravel.encrypt(KEY, b"x")
    data = json.loads(base64.b64decode(payload))
    data["value"] = base64.b64encode(b"\0" * 16).decode()
    tampered = base64.b64encode(json.dumps(data).encode()).decode()
    with pytest.raises(laravel.CipherError, match="MAC is invalid"):
        laravel.decrypt(KEY, tampered)
    with pytest.raises(laravel.CipherError, match="MAC is invalid"):
        laravel.decrypt(laravel.parse_key(laravel.generate_key()), payload)
    with pytest.raises(laravel.CipherError, match="not a Laravel encrypted payload"):
        laravel.decrypt(KEY, "garbage")


@pytest.mark.parametrize(
    ("text", "problem"),
    [("base64:!!", "not valid base64"), ("base64:" + base64.b64encode(b"x" * 16).decode(), "32")],
)
def test_bad_keys_are_refused(text: str, problem: str) -> None:
    with pytest.raises(laravel.CipherError, match=problem):
        laravel.parse_key(text)


def test_credential_records_seal_open_and_give_headers() -> None:
    record = StoredCredential.seal(KEY, "gh", "bearer", {"token": "t0k3n"}, 5)
    value = record.to_value()
    assert b"t0k3n" not in value  # only the encrypted payload is on the topic
    again = StoredCredential.from_value(value)
    assert again.open(KEY) == {"token": "t0k3n"}
    assert again.summary() == {"name": "gh", "type": "bearer", "updated_at_ms": 5}
    assert headers_of("bearer", {"token": "t"}) == {"Authorization": "Bearer t"}
    assert headers_of("basic", {"username": "u", "password": "p"}) == {
        "Authorization": "Basic " + base64.b64encode(b"u:p").decode()
    }
    assert headers_of("api_key", {"key": "k"}) == {"X-API-Key": "k"}
    assert headers_of("headers", {"X-A": "1"}) == {"X-A": "1"}
    with pytest.raises(CredentialError, match="does not decrypt"):
        again.open(laravel.parse_key(laravel.generate_key()))


@pytest.mark.parametrize(
    ("kind", "fields", "problem"),
    [
        ("oauth", {"a": "s3cr3t"}, "unknown type"),
        ("bearer", {}, "non-empty object"),
        ("bearer", {"tokn": "s3cr3t"}, "field 'tokn' is not one of bearer's fields"),
        ("basic", {"username": "s3cr3t"}, "needs the field(s) password"),
        ("bearer", {"token": ["s3cr3t"]}, "field 'token' must be a non-empty string"),
    ],
)
def test_bad_credentials_are_refused_without_their_values(
    kind: str, fields: dict[str, object], problem: str
) -> None:
    with pytest.raises(CredentialError) as caught:
        check_fields(kind, fields)
    assert problem in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_redaction_scrubs_every_occurrence_in_nested_values() -> None:
    secrets = secrets_of(["Bearer t0k3n-long", "t0k3n-long", "abc"])  # 3 chars: too short
    value = {
        "headers": {"authorization": "Bearer t0k3n-long"},
        "body": ["echo t0k3n-long", 5, None],
        "t0k3n-long": "as a key",
    }
    assert redact(value, secrets) == {
        "headers": {"authorization": REDACTED},
        "body": [f"echo {REDACTED}", 5, None],
        REDACTED: "as a key",
    }
    assert redact("abc", secrets) == "abc"
