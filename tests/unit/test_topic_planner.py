"""The pure topic planner: every action, every refusal, and idempotence."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkflow.topics import (
    AddPartitions,
    AlterConfigs,
    ClusterState,
    ConfigChange,
    CreateTopic,
    ObservedTopic,
    Plan,
    RefusalKind,
    TopicSpec,
    plan_topics,
)

GROUP = "execution"
EXECUTION = ("linkflow.commands", "linkflow.results", "linkflow.history")


def spec(
    name: str,
    partitions: int = 3,
    rf: int = 1,
    config: dict[str, str] | None = None,
    group: str | None = None,
) -> TopicSpec:
    return TopicSpec(name, partitions, rf, config or {}, group)


def seen(
    name: str, partitions: int = 3, rf: int = 1, config: dict[str, str] | None = None
) -> ObservedTopic:
    return ObservedTopic(name, partitions, rf, config or {})


def cluster(*topics: ObservedTopic, brokers: int = 1) -> ClusterState:
    return ClusterState(brokers, {t.name: t for t in topics})


def group_specs(partitions: int = 12) -> list[TopicSpec]:
    return [spec(name, partitions, group=GROUP) for name in EXECUTION]


def kinds(plan: Plan) -> list[RefusalKind]:
    return [refusal.kind for refusal in plan.refusals]


# --- actions -------------------------------------------------------------------------------


def test_missing_topics_are_created_with_partitions_replication_and_config() -> None:
    desired = [
        spec("a", 12, config={"retention.ms": "-1", "cleanup.policy": "delete"}),
        spec("b", 1, config={"cleanup.policy": "compact"}),
    ]
    plan = plan_topics(desired, cluster())
    assert plan.actions == (CreateTopic(desired[0]), CreateTopic(desired[1]))
    assert not plan.refused
    assert plan.lines() == [
        "+ create a partitions=12 replication_factor=1 cleanup.policy=delete retention.ms=-1",
        "+ create b partitions=1 replication_factor=1 cleanup.policy=compact",
    ]


def test_a_cluster_that_matches_gives_an_empty_plan() -> None:
    desired = [spec("a", 3, config={"retention.ms": "1000"})]
    plan = plan_topics(desired, cluster(seen("a", 3, config={"retention.ms": "1000"})))
    assert plan.empty
    assert plan.render() == "no changes"
    assert plan.topics == ("a",)


def test_only_config_keys_the_spec_sets_are_compared() -> None:
    broker_defaults = {"retention.ms": "1000", "segment.bytes": "1073741824", "preallocate": "x"}
    plan = plan_topics(
        [spec("a", config={"retention.ms": "1000"})], cluster(seen("a", config=broker_defaults))
    )
    assert plan.empty


def test_a_changed_config_value_is_altered() -> None:
    desired = [spec("a", config={"retention.ms": "2000", "max.message.bytes": "100"})]
    observed = cluster(seen("a", config={"retention.ms": "1000", "max.message.bytes": "100"}))
    plan = plan_topics(desired, observed)
    assert plan.actions == (AlterConfigs("a", (ConfigChange("retention.ms", "1000", "2000"),)),)
    assert plan.render() == "~ alter a retention.ms 1000 -> 2000"


def test_a_config_the_broker_does_not_report_is_set() -> None:
    plan = plan_topics([spec("a", config={"retention.ms": "5"})], cluster(seen("a")))
    assert plan.actions == (AlterConfigs("a", (ConfigChange("retention.ms", None, "5"),)),)
    assert plan.render() == "~ alter a retention.ms (unset) -> 5"


def test_several_config_changes_print_one_line_each_in_key_order() -> None:
    desired = [spec("a", config={"retention.ms": "2", "max.message.bytes": "9"})]
    plan = plan_topics(
        desired, cluster(seen("a", config={"retention.ms": "1", "max.message.bytes": "8"}))
    )
    assert plan.lines() == [
        "~ alter a max.message.bytes 8 -> 9",
        "~ alter a retention.ms 1 -> 2",
    ]


def test_cleanup_policy_compares_as_a_set() -> None:
    desired = [spec("a", config={"cleanup.policy": "compact,delete"})]
    observed = cluster(seen("a", config={"cleanup.policy": "delete,compact"}))
    assert plan_topics(desired, observed).empty


def test_partitions_of_a_free_topic_are_raised() -> None:
    plan = plan_topics([spec("linkflow.dlq", 6)], cluster(seen("linkflow.dlq", 3)))
    assert plan.actions == (AddPartitions("linkflow.dlq", 3, 6),)
    assert plan.render() == "~ partitions linkflow.dlq 3 -> 6"


def test_actions_are_ordered_creates_then_partitions_then_configs() -> None:
    desired = [
        spec("alter", config={"retention.ms": "2"}),
        spec("grow", 6),
        spec("new"),
    ]
    observed = cluster(seen("alter", config={"retention.ms": "1"}), seen("grow", 3))
    plan = plan_topics(desired, observed)
    assert [type(a) for a in plan.actions] == [CreateTopic, AddPartitions, AlterConfigs]


def test_one_topic_can_need_partitions_and_configs() -> None:
    plan = plan_topics([spec("a", 6, config={"retention.ms": "2"})], cluster(seen("a", 3)))
    assert plan.actions == (
        AddPartitions("a", 3, 6),
        AlterConfigs("a", (ConfigChange("retention.ms", None, "2"),)),
    )


def test_the_whole_co_partitioned_group_grows_together_when_allowed() -> None:
    observed = cluster(*(seen(name, 12) for name in EXECUTION))
    plan = plan_topics(group_specs(16), observed, allow_repartition=True)
    assert plan.actions == tuple(AddPartitions(name, 12, 16) for name in EXECUTION)
    assert not plan.refused


def test_a_missing_group_member_is_created_at_the_group_count() -> None:
    observed = cluster(seen("linkflow.commands", 12), seen("linkflow.results", 12))
    plan = plan_topics(group_specs(12), observed)
    assert plan.actions == (CreateTopic(group_specs(12)[2]),)
    assert not plan.refused


# --- refusals ------------------------------------------------------------------------------


def test_decreasing_partitions_is_refused() -> None:
    plan = plan_topics([spec("linkflow.dlq", 2)], cluster(seen("linkflow.dlq", 3)))
    assert kinds(plan) == [RefusalKind.PARTITION_DECREASE]
    assert plan.actions == ()
    assert plan.refusals[0].subject == "linkflow.dlq"
    line = plan.render()
    assert line.startswith("! refuse linkflow.dlq: partitions 3 -> 2")
    assert "cannot remove partitions" in line


def test_changing_the_replication_factor_is_refused() -> None:
    plan = plan_topics([spec("a", rf=1)], cluster(seen("a", rf=3), brokers=3))
    assert kinds(plan) == [RefusalKind.REPLICATION_FACTOR_CHANGE]
    assert "replication factor 3 -> 1" in plan.refusals[0].reason
    assert "reassign" in plan.refusals[0].reason


def test_refusals_do_not_hide_the_other_changes() -> None:
    desired = [spec("a", 2, config={"retention.ms": "2"}), spec("b")]
    plan = plan_topics(desired, cluster(seen("a", 3, config={"retention.ms": "1"})))
    assert kinds(plan) == [RefusalKind.PARTITION_DECREASE]
    assert plan.actions == (
        CreateTopic(desired[1]),
        AlterConfigs("a", (ConfigChange("retention.ms", "1", "2"),)),
    )
    assert plan.refused and not plan.empty
    assert plan.lines()[-1].startswith("! refuse a:")


def test_creating_with_more_replicas_than_brokers_is_refused() -> None:
    plan = plan_topics([spec("a", rf=3)], cluster(brokers=1))
    assert kinds(plan) == [RefusalKind.NOT_ENOUGH_BROKERS]
    assert plan.actions == ()
    assert "the cluster has 1" in plan.refusals[0].reason


def test_raising_a_co_partitioned_group_without_permission_is_refused() -> None:
    observed = cluster(*(seen(name, 12) for name in EXECUTION))
    plan = plan_topics(group_specs(16), observed)
    assert kinds(plan) == [RefusalKind.KEYED_REPARTITION] * 3
    assert plan.actions == ()
    assert "co-partitioned (group 'execution')" in plan.refusals[0].reason
    assert "--allow-repartition" in plan.refusals[0].reason


def test_raising_a_compacted_topic_without_permission_is_refused() -> None:
    desired = [spec("linkflow.definitions", 3, config={"cleanup.policy": "compact"})]
    observed = cluster(seen("linkflow.definitions", 1, config={"cleanup.policy": "compact"}))
    plan = plan_topics(desired, observed)
    assert kinds(plan) == [RefusalKind.KEYED_REPARTITION]
    assert "compacted" in plan.refusals[0].reason
    allowed = plan_topics(desired, observed, allow_repartition=True)
    assert allowed.actions == (AddPartitions("linkflow.definitions", 1, 3),)


def test_raising_one_group_member_but_not_the_others_is_refused() -> None:
    desired = group_specs(12)
    desired[0] = replace(desired[0], partitions=16)
    observed = cluster(*(seen(name, 12) for name in EXECUTION))
    plan = plan_topics(desired, observed, allow_repartition=True)
    assert kinds(plan) == [RefusalKind.COPARTITIONING]
    refusal = plan.refusals[0]
    assert refusal.subject == "co-partition group 'execution'"
    assert "specs declare unequal partition counts" in refusal.reason
    assert "linkflow.commands=16, linkflow.results=12, linkflow.history=12" in refusal.reason


def test_creating_a_group_with_unequal_counts_is_refused() -> None:
    desired = [spec("c", 12, group=GROUP), spec("r", 6, group=GROUP)]
    plan = plan_topics(desired, cluster())
    assert kinds(plan) == [RefusalKind.COPARTITIONING]


def test_a_plan_that_would_end_with_unequal_group_counts_is_refused() -> None:
    # commands cannot shrink back to 12 while the others grow to 12: the group would end
    # at 16/12/12.
    observed = cluster(
        seen("linkflow.commands", 16), seen("linkflow.results", 8), seen("linkflow.history", 8)
    )
    plan = plan_topics(group_specs(12), observed, allow_repartition=True)
    assert kinds(plan) == [RefusalKind.PARTITION_DECREASE, RefusalKind.COPARTITIONING]
    assert "would end with unequal partition counts" in plan.refusals[1].reason
    assert (
        "linkflow.commands=16, linkflow.results=12, linkflow.history=12" in plan.refusals[1].reason
    )


def test_a_new_member_beside_members_that_may_not_grow_is_refused() -> None:
    observed = cluster(seen("linkflow.results", 8), seen("linkflow.history", 8))
    plan = plan_topics(group_specs(12), observed)
    assert kinds(plan) == [
        RefusalKind.KEYED_REPARTITION,
        RefusalKind.KEYED_REPARTITION,
        RefusalKind.COPARTITIONING,
    ]


def test_an_unequal_group_on_the_cluster_is_repaired_when_allowed() -> None:
    observed = cluster(
        seen("linkflow.commands", 12), seen("linkflow.results", 16), seen("linkflow.history", 16)
    )
    plan = plan_topics(group_specs(16), observed, allow_repartition=True)
    assert plan.actions == (AddPartitions("linkflow.commands", 12, 16),)
    assert not plan.refused


def test_topics_declared_twice_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="declared more than once: a"):
        plan_topics([spec("a"), spec("a")], cluster())


# --- idempotence ---------------------------------------------------------------------------


def _apply(plan: Plan, state: ClusterState) -> ClusterState:
    """What a broker does with the plan, as the planner sees it."""
    topics = dict(state.topics)
    for action in plan.actions:
        if isinstance(action, CreateTopic):
            s = action.spec
            topics[s.name] = ObservedTopic(
                s.name, s.partitions, s.replication_factor, dict(s.config)
            )
        elif isinstance(action, AddPartitions):
            topics[action.topic] = replace(topics[action.topic], partitions=action.desired)
        else:
            config = dict(topics[action.topic].config)
            config.update({c.key: c.desired for c in action.changes})
            topics[action.topic] = replace(topics[action.topic], config=config)
    return ClusterState(state.brokers, topics)


_NAMES = ["t0", "t1", "t2", "t3"]
_CONFIG = st.dictionaries(
    st.sampled_from(["retention.ms", "max.message.bytes", "cleanup.policy"]),
    st.sampled_from(["1", "2", "delete", "compact"]),
    max_size=3,
)


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[list[TopicSpec], ClusterState, bool]:
    names = draw(st.lists(st.sampled_from(_NAMES), unique=True, min_size=1))
    desired = [
        TopicSpec(
            name,
            draw(st.integers(1, 4)),
            draw(st.integers(1, 3)),
            draw(_CONFIG),
            draw(st.sampled_from([None, "g"])),
        )
        for name in names
    ]
    observed = {
        name: ObservedTopic(name, draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(_CONFIG))
        for name in draw(st.lists(st.sampled_from(_NAMES), unique=True))
    }
    return desired, ClusterState(draw(st.integers(1, 3)), observed), draw(st.booleans())


@given(_scenarios())
def test_applying_an_accepted_plan_leaves_nothing_to_do(
    scenario: tuple[list[TopicSpec], ClusterState, bool],
) -> None:
    desired, observed, allow = scenario
    plan = plan_topics(desired, observed, allow_repartition=allow)
    if plan.refused:
        return
    after = _apply(plan, observed)
    assert plan_topics(desired, after, allow_repartition=allow).empty
    groups = {s.copartition_group for s in desired} - {None}
    for group in groups:
        counts = {after.topics[s.name].partitions for s in desired if s.copartition_group == group}
        assert len(counts) == 1


@given(_scenarios())
def test_a_refused_change_is_never_also_planned(
    scenario: tuple[list[TopicSpec], ClusterState, bool],
) -> None:
    desired, observed, allow = scenario
    plan = plan_topics(desired, observed, allow_repartition=allow)
    by_kind = {kind: {r.subject for r in plan.refusals if r.kind == kind} for kind in RefusalKind}
    created = {a.topic for a in plan.actions if isinstance(a, CreateTopic)}
    grown = {a.topic for a in plan.actions if isinstance(a, AddPartitions)}
    assert not created & by_kind[RefusalKind.NOT_ENOUGH_BROKERS]
    assert not grown & by_kind[RefusalKind.PARTITION_DECREASE]
    assert not grown & by_kind[RefusalKind.KEYED_REPARTITION]
