"""Anything that is not a readable message raises DecodeError, and nothing else.

Consumers rely on this to route bad input to the dead letter topic instead of crashing.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from linkflow.codec import FAMILIES, Codec, DecodeError, DecodeReason, codec
from linkflow.codec.compat import samples
from linkflow.codec.framing import HEADER_SIZE, MARKER
from linkflow.codec.store import load_current


def corpus(family: str) -> list[bytes]:
    """One valid message per sample of the family's schema: every union branch is used."""
    fam = FAMILIES[family]
    out = []
    for sample in samples(load_current(family)):
        full_name, attributes = sample.pop(fam.union_field)
        sample[fam.type_field] = full_name.rsplit(".", 1)[-1]
        message = {**sample, **attributes} if fam.flat else {**sample, fam.union_field: attributes}
        out.append(codec(family).encode(message))
    return out


CORPUS = {family: corpus(family) for family in FAMILIES}
ALL_MESSAGES = [(family, data) for family, items in CORPUS.items() for data in items]
families = st.sampled_from(sorted(FAMILIES))


def decode_or_decode_error(family: str, data: bytes) -> None:
    """Succeeds with a dict or raises DecodeError; any other exception fails the test."""
    try:
        result = codec(family).decode(data)
    except DecodeError as exc:
        assert isinstance(exc.reason, DecodeReason)
        assert exc.reason in set(DecodeReason)
        return
    assert isinstance(result, dict)


def reason_of(family: str, data: bytes) -> DecodeReason:
    with pytest.raises(DecodeError) as caught:
        codec(family).decode(data)
    return caught.value.reason


def test_corpus_covers_every_type() -> None:
    for family, items in CORPUS.items():
        decoded = {codec(family).decode(data)[FAMILIES[family].type_field] for data in items}
        assert decoded == codec(family).type_names


@settings(max_examples=300)
@given(family=families, data=st.binary(max_size=200))
def test_random_bytes_raise_decode_error(family: str, data: bytes) -> None:
    with pytest.raises(DecodeError):
        codec(family).decode(data)


@settings(max_examples=500)
@given(family=families, body=st.binary(max_size=300))
def test_random_body_behind_a_valid_header_never_escapes(family: str, body: bytes) -> None:
    decode_or_decode_error(family, MARKER + codec(family).fingerprint + body)


@settings(max_examples=500)
@given(
    message=st.sampled_from(ALL_MESSAGES), where=st.integers(min_value=0), byte=st.integers(0, 255)
)
def test_corrupted_byte_never_escapes(message: tuple[str, bytes], where: int, byte: int) -> None:
    family, data = message
    index = HEADER_SIZE + where % (len(data) - HEADER_SIZE)
    decode_or_decode_error(family, data[:index] + bytes([byte]) + data[index + 1 :])


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_truncation_is_reported_as_truncated(family: str) -> None:
    for data in CORPUS[family]:
        for end in range(len(data)):
            assert reason_of(family, data[:end]) == DecodeReason.TRUNCATED, (data, end)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_trailing_bytes_are_malformed(family: str) -> None:
    for data in CORPUS[family]:
        assert reason_of(family, data + b"\x00") == DecodeReason.MALFORMED


@pytest.mark.parametrize("marker", [b"\xc3\x00", b"\x00\x01", b"\x01\xc3", b'{"', b"Ob"])
def test_wrong_marker(marker: bytes) -> None:
    data = CORPUS["history"][0]
    assert reason_of("history", marker + data[2:]) == DecodeReason.BAD_MARKER


KNOWN = frozenset().union(*(codec(family).known_fingerprints for family in FAMILIES))


@settings(max_examples=200)
@given(
    family=families,
    fingerprint=st.binary(min_size=8, max_size=8).filter(lambda fp: fp not in KNOWN),
)
def test_unknown_fingerprint(family: str, fingerprint: bytes) -> None:
    forged = MARKER + fingerprint + CORPUS[family][0][HEADER_SIZE:]
    with pytest.raises(DecodeError) as caught:
        codec(family).decode(forged)
    assert caught.value.reason == DecodeReason.UNKNOWN_FINGERPRINT
    assert caught.value.fingerprint == fingerprint


def test_message_of_another_family_has_an_unknown_fingerprint() -> None:
    for family in FAMILIES:
        for other in FAMILIES:
            if other != family:
                assert reason_of(other, CORPUS[family][0]) == DecodeReason.UNKNOWN_FINGERPRINT


def _raw_history(record: dict[str, Any]) -> bytes:
    """Bytes a foreign producer could write: right framing, content chosen freely."""
    buffer = BytesIO()
    buffer.write(MARKER + codec("history").fingerprint)
    schemaless_writer(buffer, parse_schema(load_current("history")), record)
    return buffer.getvalue()


def test_type_field_disagreeing_with_the_union_branch_is_malformed() -> None:
    data = _raw_history(
        {
            "execution_id": "e",
            "event_id": 1,
            "timestamp_ms": 0,
            "event_type": "TimerFired",
            "attributes": ("io.linkflow.v1.history.TimerCanceled", {"timer_id": "t"}),
        }
    )
    assert reason_of("history", data) == DecodeReason.MALFORMED


def _strip_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_strip_json(item) for item in value]
    if isinstance(value, dict):
        return {k: _strip_json(v) for k, v in value.items() if k != "logicalType"}
    return value


@pytest.mark.parametrize("payload", [b"{not json", b"NaN", b"[Infinity]", b"\xff\xfe", b""])
def test_invalid_json_payload_is_malformed(payload: bytes) -> None:
    # Without the logical type the JSON field is plain bytes, so anything can be written.
    plain = parse_schema(_strip_json(load_current("history")))
    buffer = BytesIO()
    buffer.write(MARKER + codec("history").fingerprint)
    record = {
        "execution_id": "e",
        "event_id": 1,
        "timestamp_ms": 0,
        "event_type": "MarkerRecorded",
        "attributes": (
            "io.linkflow.v1.history.MarkerRecorded",
            {"marker_name": "m", "details": payload},
        ),
    }
    schemaless_writer(buffer, plain, record)
    assert reason_of("history", buffer.getvalue()) == DecodeReason.MALFORMED


def test_invalid_utf8_in_a_string_is_malformed() -> None:
    good = codec("history").encode(
        {
            "execution_id": "eeee",
            "event_id": 1,
            "timestamp_ms": 0,
            "event_type": "TimerFired",
            "attributes": {"timer_id": "t"},
        }
    )
    bad = good.replace(b"eeee", b"\xff\xfe\xfd\xfc")
    assert reason_of("history", bad) == DecodeReason.MALFORMED


def test_decode_error_carries_reason_and_fingerprint() -> None:
    c: Codec = codec("tasks")
    with pytest.raises(DecodeError) as caught:
        c.decode(CORPUS["tasks"][0][:-1])
    error = caught.value
    assert error.reason == "truncated"
    assert error.fingerprint == c.fingerprint
    assert str(error).startswith("truncated: ")
    assert isinstance(error, ValueError)
