"""Workflow definitions: parsing, the node-type registry, validation and execution plans."""

from linkflow.model.catalog import Catalog, PlanSource
from linkflow.model.definition import (
    DEFAULT_TASK_QUEUE,
    EdgeDef,
    NodeDef,
    NodeTimeouts,
    RetryPolicy,
    WorkflowDefinition,
    WorkflowSettings,
)
from linkflow.model.durations import parse_duration
from linkflow.model.loader import (
    decode_document,
    load_definition,
    load_definition_file,
    validate_document,
)
from linkflow.model.node_types import (
    NodeKind,
    NodeType,
    NodeTypeRegistry,
    UnknownNodeType,
    builtin_node_types,
    default_registry,
)
from linkflow.model.plan import ExecutionPlan, PlanNode, SwitchCase, build_plan
from linkflow.model.problems import DefinitionError, Problem

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "Catalog",
    "DefinitionError",
    "EdgeDef",
    "ExecutionPlan",
    "NodeDef",
    "NodeKind",
    "NodeTimeouts",
    "NodeType",
    "NodeTypeRegistry",
    "PlanNode",
    "PlanSource",
    "Problem",
    "RetryPolicy",
    "SwitchCase",
    "UnknownNodeType",
    "WorkflowDefinition",
    "WorkflowSettings",
    "build_plan",
    "builtin_node_types",
    "decode_document",
    "default_registry",
    "load_definition",
    "load_definition_file",
    "parse_duration",
    "validate_document",
]
