"""Topic spec loading: the shipped specs, profiles and overrides, and validation errors that
name the file and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from linkflow.topics import Overrides, SpecError, TopicSpec, default_specs_dir, desired_specs
from linkflow.topics.loader import load_specs

PROFILES = """\
default: dev
profiles:
  dev: {replication_factor: 1, min_insync_replicas: 1}
  production: {replication_factor: 3, min_insync_replicas: 2}
"""


def write_specs(directory: Path, files: dict[str, str], profiles: str | None = PROFILES) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if profiles is not None:
        (directory / "profiles.yaml").write_text(profiles)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


def problems(directory: Path, overrides: Overrides | None = None) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_specs(directory, overrides)
    return caught.value.problems


def one_problem(directory: Path, overrides: Overrides | None = None) -> str:
    found = problems(directory, overrides)
    assert len(found) == 1, found
    return found[0]


def by_name(specs: list[TopicSpec]) -> dict[str, TopicSpec]:
    return {spec.name: spec for spec in specs}


# --- the shipped specs ---------------------------------------------------------------------


def test_the_shipped_specs_declare_every_linkflow_topic() -> None:
    specs = by_name(desired_specs(default_specs_dir(), environ={}))
    assert set(specs) == {
        "linkflow.commands",
        "linkflow.results",
        "linkflow.history",
        "linkflow.definitions",
        "linkflow.credentials",
        "linkflow.circuits",
        "linkflow.tasks.default",
        "linkflow.tasks.http",
        "linkflow.tasks.default.high",
        "linkflow.tasks.http.high",
        "linkflow.dlq",
    }
    execution = [specs[f"linkflow.{name}"] for name in ("commands", "results", "history")]
    assert {s.copartition_group for s in execution} == {"execution"}
    assert len({s.partitions for s in execution}) == 1
    assert specs["linkflow.definitions"].config["cleanup.policy"] == "compact"
    assert specs["linkflow.credentials"].config["cleanup.policy"] == "compact"
    assert specs["linkflow.circuits"].config["cleanup.policy"] == "compact"
    assert specs["linkflow.history"].config["retention.ms"] == "-1"
    for spec in specs.values():
        assert spec.replication_factor == 1
        assert spec.config["min.insync.replicas"] == "1"
        assert {"cleanup.policy", "max.message.bytes"} <= spec.config.keys()
        if "compact" not in spec.config["cleanup.policy"]:
            assert "retention.ms" in spec.config


def test_the_production_profile_replicates_every_topic() -> None:
    specs = desired_specs(default_specs_dir(), Overrides(profile="production"), environ={})
    assert {(s.replication_factor, s.config["min.insync.replicas"]) for s in specs} == {(3, "2")}


def test_explicit_overrides_beat_the_environment_which_beats_the_profile() -> None:
    env = {"LINKFLOW_TOPIC_PROFILE": "production", "LINKFLOW_TOPIC_MIN_INSYNC_REPLICAS": "1"}
    from_env = desired_specs(default_specs_dir(), environ=env)
    assert {(s.replication_factor, s.config["min.insync.replicas"]) for s in from_env} == {(3, "1")}
    explicit = desired_specs(default_specs_dir(), Overrides(replication_factor=2), environ=env)
    assert {(s.replication_factor, s.config["min.insync.replicas"]) for s in explicit} == {(2, "1")}


def test_extra_task_queues_and_a_prefix() -> None:
    env = {"LINKFLOW_TASK_QUEUES": "emails, reports"}
    specs = desired_specs(
        default_specs_dir(), Overrides(task_queues=("gpu",), prefix="t1."), environ=env
    )
    names = {s.name for s in specs}
    assert {
        "t1.linkflow.tasks.default",
        "t1.linkflow.tasks.emails",
        "t1.linkflow.tasks.reports",
        "t1.linkflow.tasks.gpu",
    } <= names
    assert all(name.startswith("t1.") for name in names)


def test_a_partitions_override_sizes_the_keyed_topics_only() -> None:
    shipped = by_name(desired_specs(default_specs_dir(), environ={}))
    env = {"LINKFLOW_TOPIC_PARTITIONS": "3", "LINKFLOW_TASK_QUEUES": "emails"}
    from_env = by_name(desired_specs(default_specs_dir(), environ=env))
    keyed = {
        "linkflow.commands",
        "linkflow.results",
        "linkflow.history",
        "linkflow.tasks.default",
        "linkflow.tasks.http.high",
        "linkflow.tasks.emails",
    }
    assert {from_env[name].partitions for name in keyed} == {3}
    assert shipped["linkflow.history"].partitions == 12
    for name in ("linkflow.dlq", "linkflow.definitions", "linkflow.credentials"):
        assert from_env[name].partitions == shipped[name].partitions
    explicit = by_name(desired_specs(default_specs_dir(), Overrides(partitions=6), environ=env))
    assert explicit["linkflow.history"].partitions == 6
    assert explicit["linkflow.tasks.emails"].partitions == 6


def test_a_partitions_override_below_one_is_refused() -> None:
    with pytest.raises(SpecError, match="override partitions: must be at least 1, got 0"):
        desired_specs(default_specs_dir(), Overrides(partitions=0), environ={})


def test_a_malformed_environment_number_names_the_variable() -> None:
    with pytest.raises(SpecError, match="LINKFLOW_TOPIC_REPLICATION_FACTOR='three'"):
        desired_specs(default_specs_dir(), environ={"LINKFLOW_TOPIC_REPLICATION_FACTOR": "three"})


# --- resolution ----------------------------------------------------------------------------


def test_file_defaults_apply_to_each_topic_and_topics_override_them(tmp_path: Path) -> None:
    directory = write_specs(
        tmp_path,
        {
            "x.yaml": """\
            partitions: 4
            replication_factor: 1
            copartition_group: g
            config: {cleanup.policy: delete, retention.ms: 10}
            topics:
              - name: a
              - name: b
                config: {retention.ms: 20, min.insync.replicas: 1}
            """
        },
        profiles=None,
    )
    a, b = load_specs(directory)
    assert a == TopicSpec(
        "a", 4, 1, {"cleanup.policy": "delete", "retention.ms": "10"}, "g", a.origin
    )
    assert b.config == {
        "cleanup.policy": "delete",
        "retention.ms": "20",
        "min.insync.replicas": "1",
    }
    assert a.origin.endswith("x.yaml: topics[0] (a)")


def test_yaml_values_become_the_strings_brokers_report(tmp_path: Path) -> None:
    directory = write_specs(
        tmp_path,
        {
            "x.yaml": """\
            topics:
              - name: a
                partitions: 1
                config:
                  cleanup.policy: [compact, delete]
                  unclean.leader.election.enable: false
                  min.cleanable.dirty.ratio: 0.25
                  compression.type: zstd
            """
        },
    )
    (a,) = load_specs(directory)
    assert a.config == {
        "cleanup.policy": "compact,delete",
        "unclean.leader.election.enable": "false",
        "min.cleanable.dirty.ratio": "0.25",
        "compression.type": "zstd",
        "min.insync.replicas": "1",
    }


def test_a_topic_may_pin_its_own_replication_below_the_profile(tmp_path: Path) -> None:
    directory = write_specs(
        tmp_path,
        {"x.yaml": "topics: [{name: a, partitions: 1, replication_factor: 2}]\n"},
    )
    (a,) = load_specs(directory, Overrides(profile="production"))
    assert a.replication_factor == 2
    assert a.config["min.insync.replicas"] == "2"


# --- validation errors ---------------------------------------------------------------------


def test_missing_partitions_names_the_file_and_topic(tmp_path: Path) -> None:
    directory = write_specs(tmp_path, {"x.yaml": "topics: [{name: a}]\n"})
    assert one_problem(directory).endswith(
        "x.yaml: topics[0] (a).partitions: required (here or at the top of the file)"
    )


@pytest.mark.parametrize("value", ["twelve", "0", "-3", "true", "1.5"])
def test_partitions_must_be_a_positive_integer(tmp_path: Path, value: str) -> None:
    directory = write_specs(tmp_path, {"x.yaml": f"topics: [{{name: a, partitions: {value}}}]\n"})
    assert "x.yaml: topics[0] (a).partitions: expected a positive integer" in one_problem(directory)


def test_an_unknown_field_is_named_with_a_suggestion(tmp_path: Path) -> None:
    directory = write_specs(tmp_path, {"x.yaml": "topics: [{name: a, partitons: 3}]\n"})
    found = problems(directory)
    assert any(
        "x.yaml: topics[0].partitons: unknown field (did you mean partitions?)" in p for p in found
    )


def test_an_unknown_config_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    directory = write_specs(
        tmp_path, {"x.yaml": "topics: [{name: a, partitions: 1, config: {retention.msec: 5}}]\n"}
    )
    assert one_problem(directory).endswith(
        "x.yaml: topics[0] (a).config.retention.msec: unknown topic config "
        "(did you mean retention.ms?)"
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("retention.ms", "'7 days'", "expected an integer, got '7 days'"),
        ("retention.ms", "-5", "must be at least -1"),
        ("cleanup.policy", "forever", "expected one or more of compact, delete"),
        ("compression.type", "brotli", "expected one of"),
        ("preallocate", "maybe", "expected true or false"),
        ("min.cleanable.dirty.ratio", "2", "expected a number between 0 and 1"),
        ("max.message.bytes", "{a: 1}", "expected a scalar value"),
    ],
)
def test_bad_config_values_name_the_key(tmp_path: Path, key: str, value: str, message: str) -> None:
    directory = write_specs(
        tmp_path, {"x.yaml": f"topics: [{{name: a, partitions: 1, config: {{{key}: {value}}}}}]\n"}
    )
    found = one_problem(directory)
    assert f"x.yaml: topics[0] (a).config.{key}: " in found
    assert message in found


def test_a_bad_file_level_config_names_the_file_field(tmp_path: Path) -> None:
    directory = write_specs(
        tmp_path, {"x.yaml": "config: {retention.ms: soon}\ntopics: [{name: a, partitions: 1}]\n"}
    )
    assert "x.yaml: config.retention.ms: expected an integer" in one_problem(directory)


def test_min_insync_replicas_above_the_replication_factor_is_rejected(tmp_path: Path) -> None:
    directory = write_specs(tmp_path, {"x.yaml": "topics: [{name: a, partitions: 1}]\n"})
    found = one_problem(directory, Overrides(min_insync_replicas=2))
    assert "x.yaml: topics[0] (a): min.insync.replicas 2 exceeds replication_factor 1" in found
    assert "acks=all" in found


def test_an_unknown_profile_lists_the_defined_ones(tmp_path: Path) -> None:
    directory = write_specs(tmp_path, {"x.yaml": "topics: [{name: a, partitions: 1}]\n"})
    found = one_problem(directory, Overrides(profile="staging"))
    assert "profiles.yaml: requested profile 'staging' is not defined" in found
    assert "(defined: dev, production)" in found


def test_a_broken_profile_names_its_field(tmp_path: Path) -> None:
    directory = write_specs(
        tmp_path,
        {"x.yaml": "topics: [{name: a, partitions: 1}]\n"},
        profiles="default: dev\nprofiles: {dev: {replication_factor: 0, min_insync_replicas: 1}}\n",
    )
    found = problems(directory)
    assert "profiles.yaml: profiles.dev.replication_factor: expected a positive integer" in found[0]


def test_without_a_profile_replication_must_be_stated(tmp_path: Path) -> None:
    directory = write_specs(tmp_path, {"x.yaml": "topics: [{name: a, partitions: 1}]\n"}, None)
    assert "x.yaml: topics[0] (a).replication_factor: not set here" in one_problem(directory)
    (a,) = load_specs(directory, Overrides(replication_factor=1))
    assert a.replication_factor == 1


def test_a_topic_declared_in_two_files_names_both(tmp_path: Path) -> None:
    directory = write_specs(
        tmp_path,
        {
            "a.yaml": "topics: [{name: t, partitions: 1}]\n",
            "b.yaml": "topics: [{name: t, partitions: 1}]\n",
        },
    )
    found = one_problem(directory)
    assert found.startswith("topic t is declared more than once:")
    assert "a.yaml: topics[0] (t)" in found and "b.yaml: topics[0] (t)" in found


def test_a_co_partition_group_with_unequal_counts_is_rejected(tmp_path: Path) -> None:
    directory = write_specs(
        tmp_path,
        {
            "x.yaml": """\
            copartition_group: execution
            topics:
              - {name: commands, partitions: 12}
              - {name: history, partitions: 6}
            """
        },
    )
    found = one_problem(directory)
    assert "co-partition group 'execution' declares unequal partition counts" in found
    assert "topics[0] (commands): partitions=12" in found
    assert "topics[1] (history): partitions=6" in found


def test_queue_templates(tmp_path: Path) -> None:
    directory = write_specs(
        tmp_path,
        {
            "x.yaml": """\
            partitions: 1
            topics:
              - {name: "tasks.{queue}"}
              - {name: plain, queues: [a]}
              - {name: "bad.{queue}", queues: ["no/slash"]}
            """
        },
    )
    found = problems(directory)
    assert any(
        "topics[0] (tasks.{queue}).queues: a {queue} template needs a queue" in p for p in found
    )
    assert any("topics[1] (plain).queues: only a name containing {queue}" in p for p in found)
    assert any(
        "topics[2] (bad.{queue}).queues: 'no/slash' is not a legal queue name" in p for p in found
    )


def test_extra_task_queues_need_a_template(tmp_path: Path) -> None:
    directory = write_specs(tmp_path, {"x.yaml": "topics: [{name: a, partitions: 1}]\n"})
    assert "no spec has a {queue} template" in one_problem(directory, Overrides(task_queues=("q",)))


def test_an_illegal_topic_name_is_rejected(tmp_path: Path) -> None:
    directory = write_specs(
        tmp_path, {"x.yaml": "topics: [{name: 'linkflow/commands', partitions: 1}]\n"}
    )
    assert "name 'linkflow/commands' is not a legal Kafka topic name" in one_problem(directory)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    directory = write_specs(tmp_path, {"x.yaml": "topics:\n  - name: a\n    partitions: [1\n"})
    found = one_problem(directory)
    assert "x.yaml: not valid YAML (line" in found


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "x.yaml: empty file"),
        ("- a\n- b\n", "x.yaml: expected a mapping with a 'topics' list"),
        ("topics: []\n", "x.yaml: topics: expected a non-empty list of topics"),
        ("topics: [plain]\n", "x.yaml: topics[0]: expected a mapping with at least 'name'"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    directory = write_specs(tmp_path, {"x.yaml": text})
    assert message in one_problem(directory)


def test_an_empty_or_missing_directory(tmp_path: Path) -> None:
    assert "no topic spec files" in one_problem(write_specs(tmp_path / "empty", {}))
    assert "topic spec directory not found" in one_problem(tmp_path / "nowhere")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    directory = write_specs(
        tmp_path,
        {
            "a.yaml": "topics: [{name: a}]\n",
            "b.yaml": "topics: [{name: b, partitions: 1, config: {retention.ms: x}}]\n",
        },
    )
    found = problems(directory)
    assert len(found) == 2
    assert "a.yaml" in found[0] and "b.yaml" in found[1]
