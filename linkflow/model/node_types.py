"""The node-type registry: what each node type accepts (JSON Schema), which handles it has, and
whether it runs inline in the engine or as an activity on a task queue."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Handles, as edges name them.
SUCCESS = "success"
ERROR = "error"
TRUE = "true"
FALSE = "false"
DEFAULT = "default"
CASE_PREFIX = "case:"
LOOP_BODY = "loop_body"
LOOP_DONE = "loop_done"
TIMEOUT = "timeout"


class NodeKind(StrEnum):
    TRIGGER = "trigger"
    ACTIVITY = "activity"  # runs on a worker, via a task queue
    INLINE = "inline"  # decided by the engine itself


@dataclass(frozen=True, slots=True)
class NodeType:
    """A node type. Activity types may be added by users; inline types need engine code.

    `expression_fields` name config keys that hold CEL expressions rather than templates
    ("cases[].when" addresses a key inside every item of a list). `dynamic_handles` adds
    handles computed from the config (switch cases).
    """

    name: str
    kind: NodeKind
    handles: tuple[str, ...]
    config_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    expression_fields: tuple[str, ...] = ()
    dynamic_handles: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None
    task_queue: str | None = None
    loop: bool = False  # has a body reached through loop_body edges
    description: str = ""
    output: str = ""  # what the node's output is, for the reference (docs/nodes.md)

    def handles_for(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        if self.dynamic_handles is None:
            return self.handles
        return self.handles + self.dynamic_handles(config)


class UnknownNodeType(KeyError):
    pass


class NodeTypeRegistry:
    """Node types by name. `copy()` gives an independent registry a user can extend."""

    def __init__(self, types: Iterable[NodeType] = ()) -> None:
        self._types: dict[str, NodeType] = {}
        for node_type in types:
            self.register(node_type)

    def register(self, node_type: NodeType, *, replace: bool = False) -> NodeType:
        if node_type.name in self._types and not replace:
            raise ValueError(f"node type {node_type.name!r} is already registered")
        self._types[node_type.name] = node_type
        return node_type

    def register_activity(
        self,
        name: str,
        config_schema: Mapping[str, Any] | None = None,
        *,
        task_queue: str | None = None,
        handles: tuple[str, ...] = (SUCCESS, ERROR),
        description: str = "",
        output: str = "",
        replace: bool = False,
    ) -> NodeType:
        """Add an activity type: a worker handler registered under `name` runs it."""
        return self.register(
            NodeType(
                name=name,
                kind=NodeKind.ACTIVITY,
                handles=handles,
                config_schema=config_schema if config_schema is not None else _any_object(),
                task_queue=task_queue,
                description=description,
                output=output,
            ),
            replace=replace,
        )

    def get(self, name: str) -> NodeType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownNodeType(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[NodeType]:
        return iter(self._types.values())

    def names(self) -> list[str]:
        return sorted(self._types)

    def copy(self) -> NodeTypeRegistry:
        return NodeTypeRegistry(self._types.values())


def _any_object() -> dict[str, Any]:
    return {"type": "object"}


def _obj(
    properties: Mapping[str, Any], required: Iterable[str] = (), *, extra: bool = False
) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(required),
        "additionalProperties": extra,
    }


_STR = {"type": "string"}
_DURATION = {"type": ["integer", "string"]}
_ANY: dict[str, Any] = {}
_POS_INT = {"type": "integer", "minimum": 0}


def _switch_handles(config: Mapping[str, Any]) -> tuple[str, ...]:
    cases = config.get("cases")
    if not isinstance(cases, list):
        return ()
    return tuple(
        CASE_PREFIX + str(case["name"])
        for case in cases
        if isinstance(case, Mapping) and isinstance(case.get("name"), str)
    )


def _d(text: str, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A schema (default: any value) with a description, for the generated reference."""
    return {**(schema if schema is not None else _ANY), "description": text}


def builtin_node_types() -> list[NodeType]:
    """The node types the engine itself runs: triggers and inline nodes. Activity types
    (http, code, ...) are declared beside their handlers (`linkflow.nodes`, read through
    `linkflow.worker.registry.node_types`)."""
    condition = {"type": ["string", "boolean"]}
    types = [
        NodeType(
            "trigger",
            NodeKind.TRIGGER,
            (SUCCESS,),
            _obj({"description": _d("Free text.", _STR)}, extra=True),
            description="Where an execution starts; exactly one per workflow.",
            output="The execution's input (also `trigger` in expressions).",
        ),
        NodeType(
            "start",
            NodeKind.TRIGGER,
            (SUCCESS,),
            _obj({"description": _d("Free text.", _STR)}, extra=True),
            description="Another name for `trigger`.",
            output="The execution's input.",
        ),
        NodeType(
            "if",
            NodeKind.INLINE,
            (TRUE, FALSE, ERROR),
            _obj(
                {"condition": _d("CEL; truthy takes `true`, else `false`.", condition)},
                ["condition"],
            ),
            expression_fields=("condition",),
            description="Two-way branch; the branch not taken is skipped.",
            output='`{"result": bool}`',
        ),
        NodeType(
            "switch",
            NodeKind.INLINE,
            (DEFAULT, ERROR),
            _obj(
                {
                    "value": _d("CEL; compared with each case's `equals`.", _STR),
                    "cases": _d(
                        "In order; the first that matches is taken. `name` makes the handle "
                        "`case:<name>`; `when` is a CEL condition, `equals` a value "
                        "compared with `value`.",
                        {
                            "type": "array",
                            "items": _obj({"name": _STR, "when": _STR, "equals": _ANY}, ["name"]),
                        },
                    ),
                },
                ["cases"],
            ),
            expression_fields=("value", "cases[].when"),
            dynamic_handles=_switch_handles,
            description="Multi-way branch: handle `case:<name>` of the first matching case, "
            "else `default`.",
            output='`{"case": name}` (`"default"` when none matched)',
        ),
        NodeType(
            "merge",
            NodeKind.INLINE,
            (SUCCESS,),
            _obj(
                {
                    "mode": _d(
                        "`all` (default): wait for every incoming branch that was not "
                        "skipped; `first`: go on with the first that arrives.",
                        {"type": "string", "enum": ["all", "first"]},
                    )
                }
            ),
            description="Joins branches.",
            output="`all`: `{source node: output}` of the branches that arrived; "
            "`first`: the output of the first.",
        ),
        NodeType(
            "foreach",
            NodeKind.INLINE,
            (LOOP_BODY, LOOP_DONE, ERROR),
            _obj(
                {
                    "items": _d("CEL giving a list (or a literal list)."),
                    "concurrency": _d("Iterations at once; 0 = all (default 1).", _POS_INT),
                },
                ["items"],
            ),
            expression_fields=("items",),
            loop=True,
            description="Runs the nodes behind `loop_body` once per item (`loop.item`, "
            "`loop.index`), then takes `loop_done`.",
            output="The list of iteration results in item order (an iteration's result is "
            "the output of its last node, or `{node: output}` if several ended it).",
        ),
        NodeType(
            "while",
            NodeKind.INLINE,
            (LOOP_BODY, LOOP_DONE, ERROR),
            _obj(
                {
                    "condition": _d("CEL, evaluated before each iteration.", condition),
                    "max_iterations": _d(
                        "Required bound; passing it fails the node (`MaxIterationsExceeded`).",
                        _POS_INT,
                    ),
                },
                ["condition", "max_iterations"],
            ),
            expression_fields=("condition",),
            loop=True,
            description="Runs the loop body while `condition` holds.",
            output="The list of iteration results.",
        ),
        NodeType(
            "parallel",
            NodeKind.INLINE,
            (LOOP_BODY, LOOP_DONE, ERROR),
            _obj(
                {
                    "items": _d("CEL giving a list (or a literal list)."),
                    "concurrency": _d("Iterations at once; 0 = all (the default).", _POS_INT),
                },
                ["items"],
            ),
            expression_fields=("items",),
            loop=True,
            description="Like foreach, all items at once by default (`parallel.item`, "
            "`parallel.index`).",
            output="The list of iteration results in item order.",
        ),
        NodeType(
            "wait",
            NodeKind.INLINE,
            (SUCCESS, ERROR),
            _obj(
                {
                    "duration": _d('Milliseconds or a string such as "30s", "5m", "1h".'),
                    "until": _d("Epoch milliseconds or an ISO-8601 time (templates allowed)."),
                }
            ),
            description="A durable timer: survives restarts of every process.",
            output="null",
        ),
        NodeType(
            "wait_for_signal",
            NodeKind.INLINE,
            (SUCCESS, TIMEOUT, ERROR),
            _obj(
                {
                    "signal": _d("The signal name to wait for.", _STR),
                    "timeout": _d(
                        "Optional; then the `timeout` handle if connected, else the node "
                        "fails (`Timeout`).",
                        _DURATION,
                    ),
                },
                ["signal"],
            ),
            description="Waits for a named signal (a signal sent earlier is buffered).",
            output="The signal's payload.",
        ),
        NodeType(
            "approval",
            NodeKind.INLINE,
            (TRUE, FALSE, TIMEOUT, ERROR),
            _obj(
                {
                    "signal": _d('The signal name (default "approval").', _STR),
                    "timeout": _d("Optional, as for wait_for_signal.", _DURATION),
                    "approvers": _d("Shown to people; not enforced."),
                    "message": _d("Shown to people; templates allowed."),
                },
            ),
            description='Waits for a decision signal: `true` if its payload is `{"approved": '
            "true}` (or `true`), else `false`.",
            output="The signal's payload.",
        ),
        NodeType(
            "subworkflow",
            NodeKind.INLINE,
            (SUCCESS, ERROR),
            _obj(
                {
                    "workflow_id": _d("A registered workflow.", _STR),
                    "version": _d(
                        "Default: the latest when the parent starts.",
                        {"type": "integer", "minimum": 1},
                    ),
                    "input": _d("The child's input (templates allowed)."),
                },
                ["workflow_id"],
            ),
            description="Starts a child execution and waits for it; cancelling or "
            "terminating the parent does the same to the child.",
            output="The child's output; a failed child fails the node with its error.",
        ),
        NodeType(
            "set",
            NodeKind.INLINE,
            (SUCCESS, ERROR),
            _obj({"values": _d("Name -> value (templates).", {"type": "object"})}, ["values"]),
            description="Computes named values and merges them into `vars`.",
            output="The rendered `values` object.",
        ),
        NodeType(
            "transform",
            NodeKind.INLINE,
            (SUCCESS, ERROR),
            _obj({"value": _d("Any value (templates).")}, ["value"]),
            description="Computes one value.",
            output="The rendered `value`.",
        ),
        NodeType(
            "fail",
            NodeKind.INLINE,
            (),
            _obj(
                {
                    "message": _d("Templates allowed."),
                    "error_type": _d('Default "WorkflowFailure".', _STR),
                    "details": _d("Any value."),
                }
            ),
            description="Fails the execution with this error.",
            output="(ends the execution)",
        ),
        NodeType(
            "terminate",
            NodeKind.INLINE,
            (),
            _obj({"reason": _d("Templates allowed.")}),
            description="Ends the execution as terminated.",
            output="(ends the execution)",
        ),
    ]
    return types


def default_registry() -> NodeTypeRegistry:
    """A fresh registry holding the built-in node types."""
    return NodeTypeRegistry(builtin_node_types())
