"""What the CLI, the demo and test fixtures call: plan and apply the topic specs."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from linkflow import settings
from linkflow.topics.errors import PlanRefused, SpecError, TopicsApplyError
from linkflow.topics.kafka import Deadline, execute, make_admin, observe
from linkflow.topics.loader import load_specs
from linkflow.topics.model import TopicSpec
from linkflow.topics.overrides import Overrides
from linkflow.topics.plan import Plan
from linkflow.topics.planner import plan_topics
from linkflow.topics.profiles import PROFILES_FILE

DEFAULT_TIMEOUT = 30.0
# How often to re-read the cluster while waiting for it to show the applied plan.
_POLL_INTERVAL = 0.2


def default_specs_dir() -> Path:
    """The project's `topics/` directory.

    Found next to the `linkflow` package (source checkouts and editable installs), else at
    the project root that `linkflow.settings` finds from the working directory.
    """
    candidates = [
        Path(__file__).resolve().parents[2] / "topics",
        settings.state_dir().parent / "topics",
    ]
    for candidate in candidates:
        if (candidate / PROFILES_FILE).is_file():
            return candidate
    raise SpecError(
        [
            "cannot find the topic specs (a topics/ directory with profiles.yaml); looked in "
            + ", ".join(map(str, candidates))
            + "; pass --specs DIR"
        ]
    )


def desired_specs(
    specs_dir: Path | None = None,
    overrides: Overrides | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[TopicSpec]:
    """The resolved specs: `overrides` win over the LINKFLOW_TOPIC_* environment."""
    env = Overrides.from_env(os.environ if environ is None else environ)
    merged = (overrides or Overrides()).over(env)
    return load_specs(specs_dir or default_specs_dir(), merged)


def plan_and_apply(
    bootstrap: str,
    desired: Sequence[TopicSpec],
    *,
    dry_run: bool = False,
    allow_repartition: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Plan:
    """Make the cluster match `desired` and return the plan that did it.

    Returns without changing anything when `dry_run` or when the plan is empty; raises
    PlanRefused (changing nothing) when any change is unsafe, TopicsApplyError when Kafka
    fails or does not show the result within `timeout` seconds.
    """
    admin = make_admin(bootstrap)
    deadline = Deadline(timeout)
    names = [spec.name for spec in desired]
    observed = observe(admin, deadline, describe_configs_of=names, bootstrap=bootstrap)
    plan = plan_topics(desired, observed, allow_repartition=allow_repartition)
    if dry_run or plan.empty:
        return plan
    if plan.refused:
        raise PlanRefused(plan)
    execute(admin, plan, deadline)
    _wait_until_applied(admin, desired, deadline, allow_repartition, bootstrap)
    return plan


def _wait_until_applied(
    admin: AdminClient,
    desired: Sequence[TopicSpec],
    deadline: Deadline,
    allow_repartition: bool,
    bootstrap: str,
) -> None:
    # Brokers acknowledge before every metadata cache shows the change; callers produce
    # right after apply returns, so wait until a fresh plan comes out empty.
    names = [spec.name for spec in desired]
    while True:
        try:
            observed = observe(admin, deadline, describe_configs_of=names, bootstrap=bootstrap)
            pending = plan_topics(desired, observed, allow_repartition=allow_repartition)
        except TopicsApplyError as exc:
            pending_text = str(exc)
        else:
            if pending.empty:
                return
            if pending.refused:  # waiting cannot fix it: someone else changed the topics
                raise TopicsApplyError(
                    "the topics changed on the cluster while the plan was applied:\n"
                    + pending.render()
                )
            pending_text = pending.render()
        if deadline.expired:
            raise TopicsApplyError(
                f"Kafka accepted the changes but does not show all of them after "
                f"{deadline.seconds:g}s; still pending:\n{pending_text}"
            )
        time.sleep(_POLL_INTERVAL)


def apply_topics(
    bootstrap: str | None = None,
    *,
    dry_run: bool = False,
    specs_dir: Path | str | None = None,
    profile: str | None = None,
    replication_factor: int | None = None,
    min_insync_replicas: int | None = None,
    task_queues: Sequence[str] = (),
    prefix: str = "",
    partitions: int | None = None,
    allow_repartition: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Plan:
    """Load the topic specs and make the cluster match them; see `plan_and_apply`.

    `bootstrap` defaults to `linkflow.settings.kafka_bootstrap()`; `prefix` is prepended to
    every topic name (tests use it to get topics of their own on a shared broker).
    """
    overrides = Overrides(
        profile=profile,
        replication_factor=replication_factor,
        min_insync_replicas=min_insync_replicas,
        task_queues=tuple(task_queues),
        prefix=prefix,
        partitions=partitions,
    )
    desired = desired_specs(Path(specs_dir) if specs_dir else None, overrides)
    return plan_and_apply(
        bootstrap or settings.kafka_bootstrap(),
        desired,
        dry_run=dry_run,
        allow_repartition=allow_repartition,
        timeout=timeout,
    )


@dataclass(frozen=True)
class TopicRow:
    name: str
    partitions: int | None  # None: declared but missing
    replication_factor: int | None
    status: str  # ok, missing, differs, refused, undeclared


def list_topics(
    bootstrap: str | None = None,
    *,
    specs_dir: Path | str | None = None,
    overrides: Overrides | None = None,
    show_all: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[TopicRow]:
    """Declared topics with their state on the cluster, then undeclared `linkflow.*` topics
    (every topic with `show_all`)."""
    desired = desired_specs(Path(specs_dir) if specs_dir else None, overrides)
    bootstrap = bootstrap or settings.kafka_bootstrap()
    admin = make_admin(bootstrap)
    names = [spec.name for spec in desired]
    observed = observe(admin, Deadline(timeout), describe_configs_of=names, bootstrap=bootstrap)
    plan = plan_topics(desired, observed)

    touched = {action.topic for action in plan.actions}
    refused = {r.subject for r in plan.refusals}
    rows = []
    for spec in desired:
        current = observed.topics.get(spec.name)
        if current is None:
            rows.append(TopicRow(spec.name, None, None, "missing"))
            continue
        status = "refused" if spec.name in refused else "differs" if spec.name in touched else "ok"
        rows.append(TopicRow(spec.name, current.partitions, current.replication_factor, status))

    prefix = (overrides.prefix if overrides else "") + "linkflow."
    declared = set(names)
    for name in sorted(observed.topics):
        if name in declared or not (show_all or name.startswith(prefix)):
            continue
        topic = observed.topics[name]
        rows.append(TopicRow(name, topic.partitions, topic.replication_factor, "undeclared"))
    return rows
