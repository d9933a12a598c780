"""Query-string parsing of the query service: filters, cursors and their errors (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict

from linkflow.api.errors import ApiError
from linkflow.api.filters import DEFAULT_LIMIT, ExecutionFilter, parse_execution_filter
from linkflow.api.pagination import Cursor, b64url_encode, decode_cursor, encode_cursor
from linkflow.api.params import parse_time
from linkflow.api.queries import list_executions_sql


def q(*pairs: tuple[str, str]) -> MultiDict[str]:
    return MultiDict(pairs)


def parameter_of(query: MultiDict[str]) -> str:
    with pytest.raises(ApiError) as caught:
        parse_execution_filter(query)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_parameter"
    parameter: str = caught.value.extra["parameter"]
    assert caught.value.message.startswith(f"{parameter}: ")
    return parameter


# -- cursors --------------------------------------------------------------------------


@given(
    started_at=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    execution_id=st.text(),
    order=st.sampled_from(["asc", "desc"]),
)
def test_cursor_round_trips_exactly(started_at: datetime, execution_id: str, order: str) -> None:
    cursor = Cursor(started_at, execution_id, order)
    text = encode_cursor(cursor)
    assert text.replace("-", "").replace("_", "").isalnum()  # safe in a URL as is
    assert decode_cursor(text, order) == cursor


def test_cursor_keeps_microseconds_across_time_zones() -> None:
    local = datetime(2025, 1, 1, 7, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=-5)))
    decoded = decode_cursor(encode_cursor(Cursor(local, "e", "desc")), "desc")
    assert decoded.started_at == local
    assert decoded.started_at.tzinfo == UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "%%%",
        "not base64!",
        b64url_encode(b"[]"),
        b64url_encode(b'{"v": 2, "t": 1, "id": "x", "o": "desc"}'),
        b64url_encode(b'{"v": 1, "t": "1", "id": "x", "o": "desc"}'),
        b64url_encode(b'{"v": 1, "t": true, "id": "x", "o": "desc"}'),
        b64url_encode(b'{"v": 1, "t": 1, "id": 5, "o": "desc"}'),
        b64url_encode(b'{"v": 1, "t": 1, "id": "x", "o": "up"}'),
        b64url_encode(b'{"v": 1, "t": 99999999999999999999999, "id": "x", "o": "desc"}'),
        b64url_encode(b"\xff\xfe"),
    ],
)
def test_foreign_cursors_are_400(text: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_cursor(text, "desc")
    assert caught.value.extra == {"parameter": "cursor"}


def test_a_cursor_is_bound_to_its_order() -> None:
    text = encode_cursor(Cursor(datetime(2025, 1, 1, tzinfo=UTC), "e", "asc"))
    with pytest.raises(ApiError) as caught:
        decode_cursor(text, "desc")
    assert "order=asc" in caught.value.message


# -- filters ----------------------------------------------------------------------------


def test_defaults() -> None:
    assert parse_execution_filter(q()) == ExecutionFilter(limit=DEFAULT_LIMIT, order="desc")


def test_every_filter() -> None:
    cursor = encode_cursor(Cursor(datetime(2025, 1, 1, tzinfo=UTC), "e9", "asc"))
    flt = parse_execution_filter(
        q(
            ("status", "running,failed"),
            ("status", "completed"),
            ("status", "running"),
            ("workflow_id", "orders"),
            ("workflow_id", "a,b"),
            ("parent_execution_id", "p1"),
            ("started_after", "2025-01-01T00:00:00Z"),
            ("started_before", "1735776000000"),
            ("sa.customer", "c1"),
            ("sa.region", "eu=west"),
            ("order", "asc"),
            ("limit", "500"),
            ("cursor", cursor),
        )
    )
    assert flt.statuses == ("running", "failed", "completed")
    # Workflow ids may hold commas: only repetition lists several.
    assert flt.workflow_ids == ("orders", "a,b")
    assert flt.parent_execution_id == "p1"
    assert flt.started_after == datetime(2025, 1, 1, tzinfo=UTC)
    assert flt.started_before == datetime(2025, 1, 2, tzinfo=UTC)
    assert flt.search_attributes == {"customer": "c1", "region": "eu=west"}
    assert (flt.order, flt.limit) == ("asc", 500)
    assert flt.cursor == Cursor(datetime(2025, 1, 1, tzinfo=UTC), "e9", "asc")


@pytest.mark.parametrize(
    ("pairs", "parameter"),
    [
        ((("limit", "0"),), "limit"),
        ((("limit", "501"),), "limit"),
        ((("limit", "1.5"),), "limit"),
        ((("limit", "5"), ("limit", "6")), "limit"),
        ((("status", "paused"),), "status"),
        ((("status", "running,"),), "status"),
        ((("workflow_id", ""),), "workflow_id"),
        ((("workflow_id", "a\x00"),), "workflow_id"),
        ((("parent_execution_id", ""),), "parent_execution_id"),
        ((("order", "DESC"),), "order"),
        ((("started_after", "tomorrow"),), "started_after"),
        ((("started_before", "12345678901234"),), "started_before"),
        ((("started_before", "2025-02-30"),), "started_before"),
        ((("sa.", "x"),), "sa."),
        ((("sa.k", "1"), ("sa.k", "2")), "sa.k"),
        ((("cursor", "garbage"),), "cursor"),
        ((("workflow", "orders"),), "workflow"),
        ((("limit", "10"), ("offset", "20")), "offset"),
    ],
)
def test_bad_parameters_name_themselves(pairs: tuple[tuple[str, str], ...], parameter: str) -> None:
    assert parameter_of(q(*pairs)) == parameter


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-02T03:04:05Z", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2025-01-02T03:04:05.123456+02:00", datetime(2025, 1, 2, 1, 4, 5, 123456, tzinfo=UTC)),
        ("2025-01-02T03:04:05", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2025-01-02", datetime(2025, 1, 2, tzinfo=UTC)),
        ("0", datetime(1970, 1, 1, tzinfo=UTC)),
        ("1735776000123", datetime(2025, 1, 2, 0, 0, 0, 123000, tzinfo=UTC)),
        # Bounds beyond what Python's UTC can hold are the edges of time, not errors.
        ("0001-01-01T00:00:00+01:00", datetime.min.replace(tzinfo=UTC)),
        ("9999-12-31T23:00:00-05:00", datetime.max.replace(tzinfo=UTC)),
    ],
)
def test_times(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


# -- the SQL the filter becomes ---------------------------------------------------------


def test_sql_uses_equality_for_single_values_and_a_row_comparison_for_the_cursor() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    flt = ExecutionFilter(
        statuses=("running",),
        workflow_ids=("a", "b"),
        search_attributes={"k": "v"},
        cursor=Cursor(at, "e1", "desc"),
        limit=10,
    )
    sql, params = list_executions_sql(flt, None)
    assert "workspace =" not in sql  # no authentication: every workspace
    assert "status = %s" in sql
    assert "workflow_id = ANY(%s)" in sql
    assert "search_attributes @> %s" in sql
    assert "(started_at, execution_id) < (%s, %s)" in sql
    assert sql.endswith("ORDER BY started_at DESC, execution_id DESC LIMIT %s")
    assert params[0] == "running"
    assert params[1] == ["a", "b"]
    assert params[-3:] == [at, "e1", 11]  # one extra row tells whether a next page exists

    sql, params = list_executions_sql(flt, "acme")
    assert "WHERE workspace = %s AND status = %s" in sql
    assert params[:2] == ["acme", "running"]

    sql, params = list_executions_sql(
        ExecutionFilter(order="asc", cursor=Cursor(at, "e", "asc")), None
    )
    assert "(started_at, execution_id) > (%s, %s)" in sql
    assert "ORDER BY started_at ASC, execution_id ASC" in sql
