"""The shared Faust app factory and the `linkflow timers run` command line (no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka.partitioner import murmur2

from linkflow.cli.main import build_parser
from processors.faust_app import broker_url, make_app, make_table


def test_broker_url_for_one_and_several_hosts() -> None:
    assert broker_url("127.0.0.1:19092") == "kafka://127.0.0.1:19092"
    assert broker_url("a:1, b:2") == "kafka://a:1,kafka://b:2"
    with pytest.raises(ValueError):
        broker_url(" , ")


def test_make_app_settings(tmp_path: Path) -> None:
    app = make_app("lf-test", bootstrap="h1:1,h2:2", datadir=tmp_path, standby_replicas=0)
    conf = app.conf
    assert [str(url) for url in conf.broker] == ["kafka://h1:1", "kafka://h2:2"]
    assert str(conf.store) == "rocksdb:"
    assert Path(conf.datadir) == tmp_path
    assert not conf.web_enabled
    assert not conf.topic_allow_declare and conf.topic_disable_leader
    assert conf.consumer_auto_offset_reset == "earliest"
    assert conf.broker_commit_interval <= 0.1
    assert conf.table_standby_replicas == 0
    assert str(conf.processing_guarantee.value) == "at_least_once"


def test_only_prefixed_environment_variables_reach_faust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_COMMIT_INTERVAL", "9")
    monkeypatch.setenv("LINKFLOW_FAUST_PRODUCER_LINGER", "0.02")
    app = make_app("lf-test", bootstrap="h:1", datadir=tmp_path)
    assert app.conf.broker_commit_interval <= 0.1
    assert app.conf.producer_linger == 0.02


def test_overrides_win(tmp_path: Path) -> None:
    app = make_app("lf-test", bootstrap="h:1", datadir=tmp_path, broker_commit_interval=1.5)
    assert app.conf.broker_commit_interval == 1.5


def test_tables_use_rocksdict_with_their_own_options(tmp_path: Path) -> None:
    app = make_app("lf-test", bootstrap="h:1", datadir=tmp_path)
    first = make_table(app, "a", partitions=12)
    second = make_table(app, "b", partitions=12)
    # The store pops "driver" out of the dict it is given: each table needs its own.
    assert first.options is not second.options
    assert first.data.use_rocksdict and second.data.use_rocksdict
    assert first.changelog_topic.get_topic_name() == "lf-test-a-changelog"


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
            "--standby-replicas",
            "0",
            "--session-timeout",
            "10",
        ]
    )
    assert (args.app_id, args.topic_prefix, args.tick, args.resend_interval) == ("x", "t.", 0.25, 2)
    assert args.standby_replicas == 0 and args.session_timeout == 10
    with pytest.raises(SystemExit):
        build_parser().parse_args(["timers", "run", "--tick", "0"])
