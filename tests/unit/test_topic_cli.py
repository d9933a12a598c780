"""`linkflow topics` argument handling and the errors it reports before reaching Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkflow import settings
from linkflow.cli.main import main


def test_invalid_specs_exit_2_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.yaml").write_text("topics: [{name: a, partitions: 0, replication_factor: 1}]\n")
    code = main(["topics", "apply", "--specs", str(tmp_path), "--bootstrap-servers", "h:1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "invalid topic specs" in err
    assert "x.yaml: topics[0] (a).partitions: expected a positive integer, got 0" in err


def test_no_configured_kafka_exits_2_saying_how_to_configure_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(settings.ENV_BOOTSTRAP, raising=False)
    monkeypatch.setenv(settings.ENV_HOME, str(tmp_path / "no-stack"))
    assert main(["topics", "apply", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert settings.ENV_BOOTSTRAP in err and "linkflow dev up" in err


@pytest.mark.parametrize("flag", ["--replication-factor", "--min-insync-replicas"])
@pytest.mark.parametrize("value", ["0", "two"])
def test_replication_flags_take_positive_integers(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["topics", "apply", flag, value])
    assert exited.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err


def test_topics_without_an_action_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics"]) == 2
    out = capsys.readouterr().out
    assert "apply" in out and "list" in out
