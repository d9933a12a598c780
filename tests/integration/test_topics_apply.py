"""`topics apply` against the real broker: creates what the specs say, changes nothing the
second time, alters changed configs, refuses unsafe changes without touching anything.

Every test works on topics under a prefix of its own, so the real linkflow.* topics and
other tests are never touched.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from linkflow.cli.main import main
from linkflow.topics import (
    AddPartitions,
    AlterConfigs,
    ClusterState,
    ConfigChange,
    CreateTopic,
    PlanRefused,
    RefusalKind,
    apply_topics,
    default_specs_dir,
    desired_specs,
    plan_topics,
)
from linkflow.topics.kafka import Deadline, execute, make_admin
from linkflow.topics.overrides import Overrides

TIMEOUT = 30.0


@pytest.fixture
def admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def prefix(admin: AdminClient) -> Iterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:12]}."
    yield prefix
    names = [name for name in admin.list_topics(timeout=TIMEOUT).topics if name.startswith(prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=TIMEOUT).values():
            future.result(timeout=TIMEOUT)


@pytest.fixture
def specs_dir(tmp_path: Path) -> Path:
    """A copy of the shipped specs that a test may edit."""
    return Path(shutil.copytree(default_specs_dir(), tmp_path / "topics"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def describe(admin: AdminClient, names: list[str]) -> dict[str, tuple[int, int, dict[str, str]]]:
    """(partitions, replication factor, configs) per topic, straight from the broker."""
    described = admin.describe_topics(TopicCollection(names))
    shapes = {}
    for name, future in described.items():
        topic = future.result(timeout=TIMEOUT)
        shapes[name] = (len(topic.partitions), len(topic.partitions[0].replicas))
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    configs = {
        resource.name: {k: e.value for k, e in future.result(timeout=TIMEOUT).items()}
        for resource, future in admin.describe_configs(resources).items()
    }
    return {name: (*shapes[name], configs[name]) for name in names}


def test_apply_creates_every_topic_then_a_second_apply_changes_nothing(
    kafka_bootstrap: str, admin: AdminClient, prefix: str
) -> None:
    desired = desired_specs(overrides=Overrides(prefix=prefix), environ={})
    # commands, results, history, definitions, dlq, credentials, circuits, and 2 task
    # queues with a normal and a high-priority topic each
    assert len(desired) == 11

    first = apply_topics(kafka_bootstrap, prefix=prefix, timeout=TIMEOUT)
    assert [type(a) for a in first.actions] == [CreateTopic] * 11
    assert not first.refused

    actual = describe(admin, [spec.name for spec in desired])
    for spec in desired:
        partitions, replication, config = actual[spec.name]
        assert (partitions, replication) == (spec.partitions, spec.replication_factor), spec.name
        for key, value in spec.config.items():
            assert config[key] == value, (spec.name, key)
    assert actual[f"{prefix}linkflow.history"][0] == actual[f"{prefix}linkflow.commands"][0]
    assert actual[f"{prefix}linkflow.definitions"][2]["cleanup.policy"] == "compact"

    second = apply_topics(kafka_bootstrap, prefix=prefix, timeout=TIMEOUT)
    assert second.empty
    assert second.render() == "no changes"


def test_a_changed_config_is_altered_and_a_raised_free_topic_grows(
    kafka_bootstrap: str, admin: AdminClient, prefix: str, specs_dir: Path
) -> None:
    apply_topics(kafka_bootstrap, specs_dir=specs_dir, prefix=prefix, timeout=TIMEOUT)
    edit(specs_dir / "dlq.yaml", "retention.ms: 2592000000", "retention.ms: 1209600000")
    edit(specs_dir / "dlq.yaml", "partitions: 3", "partitions: 5")
    dlq = f"{prefix}linkflow.dlq"

    dry = apply_topics(
        kafka_bootstrap, specs_dir=specs_dir, prefix=prefix, dry_run=True, timeout=TIMEOUT
    )
    assert dry.actions == (
        AddPartitions(dlq, 3, 5),
        AlterConfigs(dlq, (ConfigChange("retention.ms", "2592000000", "1209600000"),)),
    )
    assert describe(admin, [dlq])[dlq][2]["retention.ms"] == "2592000000"  # dry run changed nothing

    plan = apply_topics(kafka_bootstrap, specs_dir=specs_dir, prefix=prefix, timeout=TIMEOUT)
    assert plan == dry
    partitions, _, config = describe(admin, [dlq])[dlq]
    assert (partitions, config["retention.ms"]) == (5, "1209600000")
    assert apply_topics(kafka_bootstrap, specs_dir=specs_dir, prefix=prefix, timeout=TIMEOUT).empty


def test_a_partition_decrease_is_refused_and_nothing_is_applied(
    kafka_bootstrap: str, admin: AdminClient, prefix: str, specs_dir: Path
) -> None:
    apply_topics(kafka_bootstrap, specs_dir=specs_dir, prefix=prefix, timeout=TIMEOUT)
    # A safe change beside the unsafe one: it must not be applied either.
    edit(specs_dir / "dlq.yaml", "partitions: 3", "partitions: 2")
    edit(specs_dir / "definitions.yaml", "max.message.bytes: 1048576", "max.message.bytes: 65536")

    with pytest.raises(PlanRefused) as refused:
        apply_topics(kafka_bootstrap, specs_dir=specs_dir, prefix=prefix, timeout=TIMEOUT)
    (refusal,) = refused.value.plan.refusals
    assert refusal.kind is RefusalKind.PARTITION_DECREASE
    assert refusal.subject == f"{prefix}linkflow.dlq"
    assert "partitions 3 -> 2" in str(refused.value)

    dlq, definitions = f"{prefix}linkflow.dlq", f"{prefix}linkflow.definitions"
    actual = describe(admin, [dlq, definitions])
    assert actual[dlq][0] == 3
    assert actual[definitions][2]["max.message.bytes"] == "1048576"


def test_the_co_partitioned_group_grows_only_together_and_only_when_allowed(
    kafka_bootstrap: str, admin: AdminClient, prefix: str, specs_dir: Path
) -> None:
    apply_topics(kafka_bootstrap, specs_dir=specs_dir, prefix=prefix, timeout=TIMEOUT)
    edit(specs_dir / "execution.yaml", "partitions: 12", "partitions: 16")
    group = [f"{prefix}linkflow.{name}" for name in ("commands", "results", "history")]

    with pytest.raises(PlanRefused) as refused:
        apply_topics(kafka_bootstrap, specs_dir=specs_dir, prefix=prefix, timeout=TIMEOUT)
    assert [r.kind for r in refused.value.plan.refusals] == [RefusalKind.KEYED_REPARTITION] * 3

    plan = apply_topics(
        kafka_bootstrap,
        specs_dir=specs_dir,
        prefix=prefix,
        allow_repartition=True,
        timeout=TIMEOUT,
    )
    assert plan.actions == tuple(AddPartitions(name, 12, 16) for name in group)
    assert {describe(admin, group)[name][0] for name in group} == {16}


def test_the_cli_prints_the_plan_no_changes_and_refusals(
    kafka_bootstrap: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI has no prefix option, so give it specs whose names carry the prefix.
    specs_dir = Path(shutil.copytree(default_specs_dir(), tmp_path / "cli-topics"))
    for path in specs_dir.glob("*.yaml"):
        path.write_text(path.read_text().replace("name: linkflow.", f"name: {prefix}linkflow."))
    common = ["--specs", str(specs_dir), "--bootstrap-servers", kafka_bootstrap]

    assert main(["topics", "apply", "--dry-run", *common]) == 0
    out = capsys.readouterr().out
    assert f"+ create {prefix}linkflow.history partitions=12 replication_factor=1" in out
    assert "11 change(s): dry run, nothing changed" in out

    assert main(["topics", "apply", *common]) == 0
    assert f"11 change(s): applied to {kafka_bootstrap}" in capsys.readouterr().out

    assert main(["topics", "apply", *common]) == 0
    assert capsys.readouterr().out == "no changes\n"

    assert main(["topics", "list", *common]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["TOPIC", "PARTITIONS", "RF", "STATUS"]
    assert f"{prefix}linkflow.dlq 3 1 ok".split() in [line.split() for line in listing]

    edit(specs_dir / "dlq.yaml", "partitions: 3", "partitions: 1")
    assert main(["topics", "apply", *common]) == 1
    captured = capsys.readouterr()
    assert f"! refuse {prefix}linkflow.dlq: partitions 3 -> 1" in captured.out
    assert "refusing to apply" in captured.err and "nothing was changed" in captured.err


def test_an_unreachable_broker_fails_within_the_timeout_with_a_clear_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    assert main(["topics", "apply", "--bootstrap-servers", "127.0.0.1:1", "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert "cannot read cluster metadata from Kafka at 127.0.0.1:1 within 2s" in err


def test_a_topic_created_by_someone_else_meanwhile_does_not_fail_the_apply(
    kafka_bootstrap: str, admin: AdminClient, prefix: str
) -> None:
    desired = desired_specs(overrides=Overrides(prefix=prefix), environ={})
    stale = plan_topics(desired, ClusterState(brokers=1))  # planned before the other creator
    first = desired[0]
    other = admin.create_topics(
        [
            NewTopic(
                first.name, first.partitions, first.replication_factor, config=dict(first.config)
            )
        ]
    )
    other[first.name].result(timeout=TIMEOUT)

    execute(make_admin(kafka_bootstrap), stale, Deadline(TIMEOUT))
    assert apply_topics(kafka_bootstrap, prefix=prefix, timeout=TIMEOUT).empty
