"""The five message families and how their envelopes name the message type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """One schema file: an envelope record whose `union_field` holds one typed record.

    `type_field` repeats the record's short name in the envelope so that consumers (and
    analytics SQL) can switch on a plain string without touching the union. `flat` says
    how Python sees a message: envelope and typed fields merged in one dict, as
    docs/events.md lists inputs, tasks and definitions (and as the engine builds them);
    or, for history events, the typed record nested under `union_field`.
    """

    name: str
    type_field: str
    flat: bool = True
    union_field: str = "attributes"


COMMANDS = Family("commands", "input_type")
RESULTS = Family("results", "input_type")
HISTORY = Family("history", "event_type", flat=False)
TASKS = Family("tasks", "task_type")
DEFINITIONS = Family("definitions", "definition_type")

FAMILIES: dict[str, Family] = {f.name: f for f in (COMMANDS, RESULTS, HISTORY, TASKS, DEFINITIONS)}


def family(name: str) -> Family:
    """The family called `name`; ValueError naming the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown message family {name!r}; known: {sorted(FAMILIES)}") from None
