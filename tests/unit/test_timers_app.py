"""The processors' command lines and partitioning (no broker)."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import murmur2

from linkflow.cli.main import build_parser


def test_aiokafka_murmur2_is_the_java_clients_hash() -> None:
    # Vectors from Kafka's own UtilsTest: results must land where Java clients put them.
    vectors = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for data, signed in vectors.items():
        assert murmur2(data) == signed & 0xFFFFFFFF  # aiokafka returns it unsigned


def test_cli_timers_run_options() -> None:
    args = build_parser().parse_args(
        [
            "timers",
            "run",
            "--app-id",
            "x",
            "--topic-prefix",
            "t.",
            "--tick",
            "0.25",
            "--resend-interval",
            "2",
            "--session-timeout",
            "10",
            "--transaction-timeout",
            "5",
        ]
    )
    assert (args.app_id, args.topic_prefix, args.tick, args.resend_interval) == ("x", "t.", 0.25, 2)
    assert args.session_timeout == 10 and args.transaction_timeout == 5
    with pytest.raises(SystemExit):
        build_parser().parse_args(["timers", "run", "--tick", "0"])


def test_cli_engine_run_options() -> None:
    args = build_parser().parse_args(
        ["engine", "run", "--max-batch", "50", "--batch-within", "0", "--transaction-timeout", "7"]
    )
    assert (args.max_batch, args.batch_within, args.transaction_timeout) == (50, 0.0, 7.0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["engine", "run", "--batch-within", "-1"])
