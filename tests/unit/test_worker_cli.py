"""`linkflow worker` parses its options and refuses bad setups before touching Kafka."""

from __future__ import annotations

import pytest

from linkflow.cli.main import build_parser, main


def test_options_are_parsed() -> None:
    args = build_parser().parse_args(
        [
            "worker",
            "--queue",
            "http",
            "--concurrency",
            "8",
            "--drain-timeout",
            "2.5",
            "--consumer-config",
            "session.timeout.ms=6000",
            "--producer-config",
            "linger.ms=5",
            "--handlers",
            "my.nodes",
        ]
    )
    assert (args.queue, args.concurrency, args.drain_timeout) == ("http", 8, 2.5)
    assert args.consumer_config == [("session.timeout.ms", "6000")]
    assert args.producer_config == [("linger.ms", "5")]
    assert args.handlers == ["my.nodes"]


def test_defaults() -> None:
    args = build_parser().parse_args(["worker"])
    assert (args.queue, args.concurrency, args.drain_timeout) == ("default", 10, 30.0)


@pytest.mark.parametrize(
    "argv",
    [
        ["worker", "--concurrency", "0"],
        ["worker", "--drain-timeout", "-1"],
        ["worker", "--consumer-config", "no-equals-sign"],
    ],
)
def test_bad_options_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2


def test_a_missing_handler_module_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["worker", "--bootstrap-servers", "127.0.0.1:1", "--handlers", "no_such_module_xyz"]
    )
    assert code == 2
    assert "no_such_module_xyz" in capsys.readouterr().err
