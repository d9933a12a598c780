"""Workspaces in the pure engine (ownership, inheritance, refusals, admission), the quotas
file, and the history processor's running counts and quota shares."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from linkflow.engine import (
    ActivityTask,
    Engine,
    Error,
    ExecutionState,
    SignalWorkflow,
    StartChildWorkflow,
    StartWorkflow,
)
from linkflow.engine.inputs import CancelWorkflow
from linkflow.model import Catalog
from linkflow.model.workspaces import workspace_problem
from linkflow.quotas import Quota, QuotaConfigError, load_quotas, parse_quotas
from linkflow.testing import node, trigger, workflow
from linkflow.worker.registry import installed_node_types
from processors.admission import RUNNING_KEY, WorkspaceAdmission
from processors.history_records import StoredExecution
from processors.state_store import PartitionStores

PARENT = workflow(
    "parent",
    [trigger(), node("work", "http", url="u"), node("sub", "subworkflow", workflow_id="child")],
    ["start -> work", "start -> sub"],
)
CHILD = workflow(
    "child", [trigger(), node("wait", "wait_for_signal", signal="go")], ["start -> wait"]
)


def _catalog(owner: str = "acme") -> Catalog:
    catalog = Catalog(registry=installed_node_types())
    catalog.register(PARENT, owner)
    catalog.register(CHILD, owner)
    return catalog


def _start(workspace: str | None, execution_id: str = "e1", workflow_id: str = "parent"):
    return StartWorkflow(
        request_id=f"r-{execution_id}",
        execution_id=execution_id,
        workflow_id=workflow_id,
        workspace=workspace,
    )


def test_an_execution_is_in_its_starters_workspace_and_children_and_tasks_inherit_it() -> None:
    decision = Engine(_catalog()).decide(None, _start("acme"), 1000)
    assert decision.state is not None and decision.state.workspace == "acme"
    assert decision.events[0].attributes.workspace == "acme"  # type: ignore[attr-defined]
    task = next(e for e in decision.effects if isinstance(e, ActivityTask))
    assert task.workspace == "acme" and task.to_dict()["workspace"] == "acme"
    child = next(e for e in decision.effects if isinstance(e, StartChildWorkflow)).command
    assert child.workspace == "acme"
    assert child.to_dict()["workspace"] == "acme"


def test_another_workspaces_workflow_is_an_unknown_workflow() -> None:
    decision = Engine(_catalog("acme")).decide(None, _start("globex"), 1000)
    types = [e.event_type for e in decision.events]
    assert types == ["WorkflowExecutionStarted", "WorkflowExecutionFailed"]
    error = decision.events[-1].attributes.error  # type: ignore[attr-defined]
    assert error.type == "UnknownWorkflow"
    # Without a workspace a start is in "default", which does not own acme's workflow either.
    assert Engine(_catalog("acme")).decide(None, _start(None), 1).state.status == "failed"  # type: ignore[union-attr]
    # A workflow registered without one is "default"'s.
    catalog = Catalog([PARENT, CHILD], registry=installed_node_types())
    assert Engine(catalog).decide(None, _start(None), 1).state.status == "running"  # type: ignore[union-attr]


def test_a_command_from_another_workspace_is_refused_and_changes_nothing() -> None:
    engine = Engine(_catalog())
    state = engine.decide(None, _start("acme"), 1000).state
    assert state is not None
    last = state.last_event_id
    for command in (
        SignalWorkflow(request_id="s", execution_id="e1", signal_name="go", workspace="globex"),
        CancelWorkflow(request_id="c", execution_id="e1", workspace="globex"),
        _start("globex"),
    ):
        decision = engine.decide(state, command, 2000)
        assert decision.refusal is not None and decision.refusal.reason == "wrong_workspace"
        assert "'globex'" in decision.refusal.detail and "acme" not in decision.refusal.detail
        assert decision.events == [] and state.last_event_id == last
    # The same workspace, or a sender that names none (a trusted producer), is heard.
    signal = SignalWorkflow(request_id="s2", execution_id="e1", signal_name="x", workspace="acme")
    assert engine.decide(state, signal, 3000).events
    unchecked = SignalWorkflow(request_id="s3", execution_id="e1", signal_name="y")
    assert engine.decide(state, unchecked, 3000).events


class _Refuse:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def admit(self, workspace: str, workflow_id: str) -> Error | None:
        self.asked.append((workspace, workflow_id))
        return Error(type="QuotaExceeded", message="over", retryable=True)


def test_a_start_the_admission_refuses_fails_at_once_with_its_reason() -> None:
    admission = _Refuse()
    decision = Engine(_catalog(), admission=admission).decide(None, _start("acme"), 1000)
    assert admission.asked == [("acme", "parent")]
    types = [e.event_type for e in decision.events]
    assert types == ["WorkflowExecutionStarted", "WorkflowExecutionFailed"]
    assert decision.events[-1].attributes.error.type == "QuotaExceeded"  # type: ignore[attr-defined]
    assert not any(isinstance(e, ActivityTask | StartChildWorkflow) for e in decision.effects)
    # An unknown workflow fails before the quota is asked.
    Engine(_catalog(), admission=admission).decide(None, _start("acme", "e2", "nope"), 1)
    assert len(admission.asked) == 1


def test_workspace_names() -> None:
    assert workspace_problem("acme-1.eu_west") is None
    for bad in ("", "-x", "a b", "a/b", "x" * 64, None, 3):
        assert workspace_problem(bad) is not None


# -- the quotas file ----------------------------------------------------------------------


def test_quotas_file(tmp_path: Path) -> None:
    path = tmp_path / "quotas.yaml"
    path.write_text(
        "default: {max_running: 1000}\n"
        "workspaces:\n  acme: {max_running: 2, starts_per_second: 5, activities_per_second: 1.5}\n"
    )
    quotas = load_quotas(path)
    assert quotas.of("acme") == Quota(2, 5.0, 1.5)
    assert quotas.of("other") == Quota(max_running=1000)
    assert quotas.limits_starts and quotas.limits_activities
    assert not parse_quotas(None).limits_starts


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"workspaces": {"acme": {"max_runing": 1}}}, "workspaces.acme: unknown limit"),
        ({"workspaces": {"acme": {"max_running": 1.5}}}, "workspaces.acme.max_running"),
        ({"default": {"starts_per_second": -1}}, "default.starts_per_second"),
        ({"workspaces": {"a b": {}}}, "a workspace is"),
        ({"tenants": {}}, "unknown key(s) ['tenants']"),
        ([1], "expected a mapping"),
    ],
)
def test_a_bad_quotas_file_is_refused_naming_the_key(data: object, named: str) -> None:
    with pytest.raises(QuotaConfigError) as caught:
        parse_quotas(data, "q.yaml")
    assert named in str(caught.value)


# -- the processor's counts and shares ----------------------------------------------------


def _running_state(execution_id: str, workspace: str, status: str) -> bytes:
    state = ExecutionState(execution_id)
    state.workspace, state.status, state.workflow_id = workspace, status, "w"
    return StoredExecution(state).to_bytes()


def test_counts_follow_batches_and_survive_in_the_store(tmp_path: Path) -> None:
    stores = PartitionStores(tmp_path)
    quotas = parse_quotas({"workspaces": {"acme": {"max_running": 2}}})
    admission = WorkspaceAdmission(quotas, partitions=1)
    admission.assigned([0], stores)
    assert admission.admit("acme", "w") is None
    admission.changed(0, "acme", +1)
    admission.changed(0, "acme", +1)
    refused = admission.admit("acme", "w")
    assert refused is not None and refused.type == "QuotaExceeded" and refused.retryable
    assert "max_running 2" in refused.message
    assert admission.admit("globex", "w") is None  # no quota for it
    values = admission.batch_values()
    admission.aborted()  # an aborted batch counts nothing
    assert admission.running("acme") == 0
    admission.changed(0, "acme", +1)
    admission.changed(0, "acme", +1)
    values = admission.batch_values()
    admission.committed()
    stores.get(0).write({RUNNING_KEY: values[0]}, None)
    admission.changed(0, "acme", -1)
    admission.committed()
    assert admission.running("acme") == 1

    again = WorkspaceAdmission(quotas, partitions=1)
    again.assigned([0], stores)
    assert again.running("acme") == 2  # what the store holds: the last committed record


def test_a_store_without_counts_is_counted_from_its_states(tmp_path: Path) -> None:
    stores = PartitionStores(tmp_path)
    stores.get(3).write(
        {
            b"e1": _running_state("e1", "acme", "running"),
            b"e2": _running_state("e2", "acme", "completed"),
            b"e3": _running_state("e3", "globex", "running"),
        },
        7,
    )
    admission = WorkspaceAdmission(parse_quotas({}), partitions=12)
    admission.assigned([3], stores)
    assert Counter({"acme": admission.running("acme"), "globex": admission.running("globex")}) == (
        Counter({"acme": 1, "globex": 1})
    )


def test_an_instance_enforces_its_share_of_the_partitions(tmp_path: Path) -> None:
    now = [0.0]
    quotas = parse_quotas({"workspaces": {"acme": {"max_running": 10, "starts_per_second": 8}}})
    admission = WorkspaceAdmission(quotas, partitions=4, clock=lambda: now[0])
    admission.assigned([0], PartitionStores(tmp_path))  # a quarter of the partitions
    for _ in range(2):
        assert admission.admit("acme", "w") is None
    refused = admission.admit("acme", "w")  # 8/s x 1/4 = 2 per second, a burst of 2
    assert refused is not None and "starts_per_second" in refused.message
    now[0] = 0.5
    assert admission.admit("acme", "w") is None
    admission.changed(0, "acme", 3)
    refused = admission.admit("acme", "w")  # ceil(10 x 1/4) = 3 running
    assert refused is not None and "share of max_running 10 is 3" in refused.message
