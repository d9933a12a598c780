"""Compiled CEL expressions: compile once, evaluate many times."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final, final

from linkflow.expr._celpy import CelFailure, Program, from_cel, parse
from linkflow.expr.analysis import SCOPE_ROOTS, Analysis, analyse
from linkflow.expr.errors import ExpressionError
from linkflow.expr.scope import FALLBACK, PreparedScope, activation, lookup

# Enough for every expression of many definitions; an entry is a few kilobytes.
CACHE_SIZE: Final = 8192


@final
class Expression:
    """A compiled expression. Immutable, shared through the compile cache.

    `evaluate` takes JSON-like Python values and returns JSON-like Python values. A plain
    path resolves by direct lookup and returns the very object stored in the scope (not
    a copy): treat results as read-only, as the scope itself is.
    """

    __slots__ = ("_needs", "_path", "_program", "node_refs", "source")

    source: str
    #: node ids the expression names literally (`nodes.fetch`, `nodes['my-node']`);
    #: dynamic access such as `nodes[x]` names none.
    node_refs: frozenset[str]

    def __init__(self, source: str, program: Program, analysis: Analysis) -> None:
        """Internal: use compile_expression, which caches."""
        self.source = source
        self.node_refs = analysis.node_refs
        self._needs = analysis.needs
        self._program = program
        path = analysis.path
        # Only a path from a scope variable is a lookup; `int` alone is a type value.
        self._path = path if path is not None and path[0] in SCOPE_ROOTS else None

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # The celpy program holds code objects; pickle and deepcopy go by source and
        # come back through the compile cache.
        return compile_expression, (self.source,)

    @property
    def is_path(self) -> bool:
        """True when evaluation is a plain lookup, without CEL."""
        return self._path is not None

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The value of the expression in `scope`; raises ExpressionError, nothing else."""
        try:
            path = self._path
            if path is not None:
                data = scope.data if type(scope) is PreparedScope else scope
                value = lookup(data, path)
                if value is not FALLBACK:
                    return value
            return self._evaluate_cel(scope)
        except CelFailure as ex:
            raise ExpressionError(self.source, ex.reason) from None
        except RecursionError:
            raise ExpressionError(self.source, "value nested too deeply") from None
        except ExpressionError:
            raise
        except Exception as ex:
            # A bug in celpy or here; still an expression failure for the caller, with
            # the cause kept for whoever debugs it.
            raise ExpressionError(self.source, f"internal error: {type(ex).__name__}: {ex}") from ex

    def _evaluate_cel(self, scope: Mapping[str, Any]) -> Any:
        bound = activation(scope, self._needs)
        try:
            return from_cel(self._program.run(bound))
        except CelFailure as ex:
            # celpy reports a missing top-level name like a missing key; say what it is
            # (typically `loop` or `parallel` used outside a loop or fan-out).
            for root, _ in self._needs:
                if root not in bound and ex.reason == f"no such key {root!r}":
                    raise CelFailure(f"no such variable {root!r} in scope") from None
            raise


class _Failure:
    """A cached compile failure (so a bad source is not re-parsed on every check)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


@lru_cache(maxsize=CACHE_SIZE)
def _compile(source: str) -> Expression | _Failure:
    if not source.strip():
        return _Failure("empty expression")
    try:
        tree = parse(source)
        analysis = analyse(tree)
        program = Program(tree)
    except CelFailure as ex:
        return _Failure(ex.reason)
    except RecursionError:
        return _Failure("expression nested too deeply")
    except Exception as ex:
        return _Failure(f"cannot compile: {type(ex).__name__}: {ex}")
    return Expression(source, program, analysis)


def compile_expression(source: str) -> Expression:
    """Compile CEL `source`. The same source gives the same (cached) object.

    Raises ExpressionError for a syntax error, an unknown variable or function, or a
    macro used wrongly: everything that can be known without data.
    """
    if not isinstance(source, str):
        kind = type(source).__name__
        raise ExpressionError(repr(source), f"an expression must be a string, not {kind}")
    compiled = _compile(source)
    if isinstance(compiled, _Failure):
        # A new exception each time: re-raising one instance would grow its traceback.
        raise ExpressionError(source, compiled.reason)
    return compiled


def check_expression(source: str) -> ExpressionError | None:
    """The compile error of `source`, or None if it compiles."""
    try:
        compile_expression(source)
    except ExpressionError as ex:
        return ex
    return None
