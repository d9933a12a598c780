"""The API's token settings: read from the environment, refused at start with the file and
entry named when they cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkflow.api.auth import AuthConfigError, Authenticator, Principal


def test_no_settings_means_an_open_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKFLOW_API_TOKENS_FILE", raising=False)
    monkeypatch.delenv("LINKFLOW_API_JWT_SECRET", raising=False)
    assert Authenticator.from_environment() is None


def test_a_tokens_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(
        "- {token: abcdefghijklmnop1, role: viewer, name: dashboards}\n"
        "- {token: abcdefghijklmnop2, role: admin, workspace: team-a}\n"
    )
    monkeypatch.setenv("LINKFLOW_API_TOKENS_FILE", str(path))
    monkeypatch.delenv("LINKFLOW_API_JWT_SECRET", raising=False)
    monkeypatch.setenv("LINKFLOW_API_METRICS_AUTH", "1")
    auth = Authenticator.from_environment()
    assert auth is not None and not auth.metrics_open and auth.jwt_secret is None
    assert [p for _, p in auth.tokens] == [
        Principal("dashboards", "viewer", "default"),
        Principal("token 1", "admin", "team-a"),
    ]
    assert auth.check("Bearer abcdefghijklmnop2", "terminate") == Principal(
        "token 1", "admin", "team-a"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{token: x}", "expected a list"),
        ("- just a string", "[0]: expected a mapping"),
        ("- {token: short, role: admin}", "[0]: token must be a string of at least 16"),
        ("- {token: abcdefghijklmnopq, role: root}", "[0]: role must be one of"),
        ("- [unclosed", "cannot read"),
    ],
)
def test_a_bad_tokens_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    monkeypatch.setenv("LINKFLOW_API_TOKENS_FILE", str(path))
    with pytest.raises(AuthConfigError, match=problem.replace("[", r"\[")) as raised:
        Authenticator.from_environment()
    assert str(path) in str(raised.value)


def test_a_short_jwt_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKFLOW_API_TOKENS_FILE", raising=False)
    monkeypatch.setenv("LINKFLOW_API_JWT_SECRET", "too-short")
    with pytest.raises(AuthConfigError, match="at least 32"):
        Authenticator.from_environment()
