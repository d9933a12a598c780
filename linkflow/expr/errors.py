"""The one exception type of `linkflow.expr`."""

from __future__ import annotations


class ExpressionError(Exception):
    """An expression failed to compile or to evaluate.

    Every failure inside `linkflow.expr` surfaces as this type, so a caller (the engine
    turning it into a node failure, the model validator turning it into a definition
    error) needs exactly one ``except``.
    """

    expression: str
    reason: str
    location: str

    def __init__(self, expression: str, reason: str, location: str = "") -> None:
        # All three go into args so the error pickles and copies intact.
        super().__init__(expression, reason, location)
        self.expression = expression
        self.reason = reason
        # Where in a config tree the expression sits ("headers.Authorization",
        # "items[2]"); empty for a bare expression. Not part of str() so that the
        # message format stays what callers match on; validators prefix it themselves.
        self.location = location

    def __str__(self) -> str:
        return f"expression {self.expression!r}: {self.reason}"

    def at(self, location: str) -> ExpressionError:
        """The same error, placed at `location` in a config tree."""
        return ExpressionError(self.expression, self.reason, location)
