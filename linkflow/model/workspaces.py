"""Workspaces (tenants): every workflow id, execution and API token belongs to one.

A workspace is a name. Executions started without one (a producer that predates them, the
API with authentication off) are in `default`; children inherit their parent's.
"""

from __future__ import annotations

import re

DEFAULT_WORKSPACE = "default"
WORKSPACE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def workspace_problem(name: object) -> str | None:
    """Why `name` cannot be a workspace, or None."""
    if not isinstance(name, str) or not WORKSPACE_PATTERN.fullmatch(name):
        return (
            f"a workspace is 1-63 letters, digits, '_', '.' or '-', starting with a letter "
            f"or digit, not {name!r}"
        )
    return None
