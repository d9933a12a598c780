"""Reading the evaluation scope: plain-path lookups and CEL activations.

The scope is a mapping of JSON-like Python values (`trigger`, `nodes`, `vars`, `env`,
`loop`, `parallel`, `execution`). A plain path is resolved here by walking dicts and
lists. Everything else needs the scope as celpy values; converting costs time in
proportion to the data, so only the parts an expression can observe are converted, and a
`PreparedScope` keeps the conversions for as long as the caller keeps the scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from linkflow.expr._celpy import CelFailure, cel_map, to_cel
from linkflow.expr.analysis import Need, Path, Step

_IDENT: Final = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")


class PreparedScope(Mapping[str, Any]):
    """A scope that remembers its conversions to CEL values across evaluations.

    Use one when several expressions run against the same scope (a node's config
    template, the cases of a switch). The scope must not change while this object is in
    use: the cached conversions would no longer match it.
    """

    __slots__ = ("_converted", "data")

    def __init__(self, data: Mapping[str, Any]) -> None:
        if isinstance(data, PreparedScope):
            data = data.data
        self.data: Mapping[str, Any] = data
        # Whole-value conversions by path (root, key, key, ...).
        self._converted: dict[tuple[Step, ...], object] = {}

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __contains__(self, key: object) -> bool:
        return key in self.data


def prepare_scope(scope: Mapping[str, Any]) -> PreparedScope:
    """Wrap `scope` so that evaluations against it share their CEL conversions."""
    return scope if isinstance(scope, PreparedScope) else PreparedScope(scope)


def describe_path(root: str, steps: Sequence[Step]) -> str:
    """A path in CEL syntax: nodes.fetch.body, nodes['my-node'], trigger.items[0]."""
    parts = [root]
    for step in steps:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif _IDENT.fullmatch(step):
            parts.append(f".{step}")
        else:
            parts.append(f"[{step!r}]")
    return "".join(parts)


class _Fallback:
    """Marker: the path met a value CEL treats in its own way; let CEL decide."""


FALLBACK: Final = _Fallback()


def lookup(scope: Mapping[str, Any], path: Path) -> Any:
    """The value at `path`, FALLBACK, or CelFailure naming what is missing.

    Only the two ordinary outcomes are decided here: a mapping that has (or lacks) the
    key, a list that has (or lacks) the index. Anything unusual (a field of a string, an
    int key into a map, ...) returns FALLBACK and CEL evaluates the expression, so the
    fast path never disagrees with CEL.
    """
    root, steps = path
    try:
        value = scope[root]
    except KeyError:
        raise CelFailure(f"no such variable {root!r} in scope") from None
    for position, step in enumerate(steps):
        if isinstance(step, str):
            if type(value) is not dict and not isinstance(value, Mapping):
                return FALLBACK
            try:
                value = value[step]
            except KeyError:
                where = describe_path(root, steps[:position])
                raise CelFailure(f"no such key {step!r} in {where}") from None
        else:
            if not isinstance(value, list | tuple):
                return FALLBACK
            if step >= len(value):
                where = describe_path(root, steps[:position])
                raise CelFailure(
                    f"index {step} out of range in {where} (size {len(value)})"
                ) from None
            value = value[step]
    return value


def activation(scope: Mapping[str, Any], needs: tuple[tuple[str, Need], ...]) -> dict[str, object]:
    """The CEL values for the roots an expression reads, converted as little as possible.

    Where the expression only selects fixed keys of a map (`nodes.a.status` in
    `nodes.a.status == 200`), the map is rebuilt with just those keys: a missing key stays
    missing, so CEL sees exactly what it would see in the full value, and a node's large
    output is not converted to read one field of it.
    """
    cache: dict[tuple[Step, ...], object] | None = None
    if isinstance(scope, PreparedScope):
        cache = scope._converted
        scope = scope.data
    bound: dict[str, object] = {}
    for root, need in needs:
        if root in scope:  # else CEL reports it (or has() answers false)
            bound[root] = _convert(cache, (root,), scope[root], need)
    return bound


def _convert(
    cache: dict[tuple[Step, ...], object] | None,
    where: tuple[Step, ...],
    value: Any,
    need: Need,
) -> object:
    if not need.whole and (type(value) is dict or isinstance(value, Mapping)):
        selected: dict[str, object] = {}
        for key, child in need.keys:
            if key in value:
                selected[key] = _convert(cache, (*where, key), value[key], child)
        return cel_map(selected)
    if cache is not None:
        hit = cache.get(where, FALLBACK)
        if hit is not FALLBACK:
            return hit
    try:
        converted = to_cel(value)
    except CelFailure as ex:
        raise CelFailure(f"{ex.reason} (in {describe_path(str(where[0]), where[1:])})") from None
    if cache is not None:
        cache[where] = converted
    return converted
