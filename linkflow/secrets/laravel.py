"""Laravel's encryption format (`Crypt::encryptString`, AES-256-CBC with an HMAC-SHA256
MAC), so credentials a Laravel control plane encrypted with its APP_KEY decrypt here and
the other way round.

A payload is base64 of the JSON {"iv": b64, "value": b64, "mac": hex, "tag": ""}: `value`
is the AES-256-CBC ciphertext (PKCS#7 padding) under the 32-byte key, and `mac` is
HMAC-SHA256(key, iv + value) over the two base64 strings. The key is given as Laravel
writes APP_KEY, `base64:<32 bytes in base64>`. Values Laravel's `encrypt()` serialised
with PHP (`s:<n>:"...";`) are unserialised when they are strings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_BYTES = 32
ENV_APP_KEY = "LINKFLOW_APP_KEY"  # the key (Laravel's APP_KEY format) of stored credentials


class CipherError(ValueError):
    """A key or payload that cannot be used; the message never holds the secret."""


def parse_key(text: str) -> bytes:
    """An APP_KEY (`base64:...`, or 32 raw characters as very old Laravel keys were)."""
    raw: bytes
    if text.startswith("base64:"):
        try:
            raw = base64.b64decode(text[len("base64:") :], validate=True)
        except binascii.Error:
            raise CipherError("the key is not valid base64 after 'base64:'") from None
    else:
        raw = text.encode()
    if len(raw) != KEY_BYTES:
        raise CipherError(f"the key must be {KEY_BYTES} bytes (AES-256), not {len(raw)}")
    return raw


def generate_key() -> str:
    return "base64:" + base64.b64encode(os.urandom(KEY_BYTES)).decode()


def _mac(key: bytes, iv: str, value: str) -> str:
    return hmac.new(key, (iv + value).encode(), hashlib.sha256).hexdigest()


def encrypt(key: bytes, plaintext: bytes) -> str:
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    iv_b64 = base64.b64encode(iv).decode()
    value_b64 = base64.b64encode(ciphertext).decode()
    payload = {"iv": iv_b64, "value": value_b64, "mac": _mac(key, iv_b64, value_b64), "tag": ""}
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decrypt(key: bytes, payload: str) -> bytes:
    try:
        data = json.loads(base64.b64decode(payload, validate=True))
        iv_b64, value_b64, mac = str(data["iv"]), str(data["value"]), str(data["mac"])
        iv = base64.b64decode(iv_b64, validate=True)
        ciphertext = base64.b64decode(value_b64, validate=True)
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise CipherError("not a Laravel encrypted payload") from None
    if not hmac.compare_digest(_mac(key, iv_b64, value_b64), mac):
        raise CipherError("the MAC is invalid: another key, or a payload changed")
    if len(iv) != 16 or not ciphertext or len(ciphertext) % 16:
        raise CipherError("the payload's IV or ciphertext has the wrong length")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plaintext = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise CipherError("the payload's padding is invalid") from None
    return _php_unserialize_string(plaintext)


def _php_unserialize_string(data: bytes) -> bytes:
    # s:5:"hello"; is what PHP's serialize() makes of a string.
    if data.startswith(b"s:") and data.endswith(b'";'):
        length, sep, rest = data[2:].partition(b":")
        if sep and length.isdigit() and rest.startswith(b'"'):
            body = rest[1:-2]
            if len(body) == int(length):
                return body
    return data


if __name__ == "__main__":
    print(generate_key())  # a new LINKFLOW_APP_KEY
