"""Declarative Kafka topics: load the specs in `topics/`, plan, and apply them.

`apply_topics()` is the entry point for the CLI, the demo and test fixtures; `plan_topics()`
is the pure planner behind it.
"""

from linkflow.topics.api import (
    DEFAULT_TIMEOUT,
    TopicRow,
    apply_topics,
    default_specs_dir,
    desired_specs,
    list_topics,
    plan_and_apply,
)
from linkflow.topics.errors import PlanRefused, SpecError, TopicsApplyError
from linkflow.topics.loader import load_specs
from linkflow.topics.model import ClusterState, ObservedTopic, TopicSpec
from linkflow.topics.overrides import Overrides
from linkflow.topics.plan import (
    Action,
    AddPartitions,
    AlterConfigs,
    ConfigChange,
    CreateTopic,
    Plan,
    Refusal,
    RefusalKind,
)
from linkflow.topics.planner import plan_topics

__all__ = [
    "DEFAULT_TIMEOUT",
    "Action",
    "AddPartitions",
    "AlterConfigs",
    "ClusterState",
    "ConfigChange",
    "CreateTopic",
    "ObservedTopic",
    "Overrides",
    "Plan",
    "PlanRefused",
    "Refusal",
    "RefusalKind",
    "SpecError",
    "TopicRow",
    "TopicSpec",
    "TopicsApplyError",
    "apply_topics",
    "default_specs_dir",
    "desired_specs",
    "list_topics",
    "load_specs",
    "plan_and_apply",
    "plan_topics",
]
