"""Expression evaluation throughput, single thread, expressions already compiled.

    .venv/bin/python tests/bench/expr_bench.py [--seconds 2]

Prints evaluations per second for a plain path (direct lookup, no CEL), a CEL comparison,
node-config template renders, and for reference the same work without our shortcuts: a
path forced through CEL, and the comparison through celpy's stock interpreter with the
whole scope converted on every call (what a naive integration pays).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import celpy
from celpy.adapter import json_to_cel

from linkflow.expr import compile_expression, compile_template

SCOPE: dict[str, Any] = {
    "trigger": {"x": 5, "customer_id": "c-1234", "items": [{"sku": f"S{i}"} for i in range(20)]},
    "nodes": {
        "fetch": {
            "status": 200,
            "headers": {f"x-header-{i}": "value" * 4 for i in range(20)},
            "body": {
                "id": 42,
                "name": "Ada",
                "orders": [{"n": i, "total": i * 1.5} for i in range(50)],
            },
        },
        "a": {"status": 200, "body": {"ok": True, "rows": list(range(100))}},
    },
    "vars": {"base_url": "https://api.example.com", "limit": 10},
    "env": {"REGION": "eu-west-1"},
    "loop": {"index": 0, "item": {"sku": "S0"}},
    "parallel": {"index": 0, "item": None},
    "execution": {"id": "exec-7f3a", "workflow_id": "orders", "attempt": 1},
}

PATH = "nodes.fetch.body.id"
COMPARISON = "nodes.a.status == 200 && trigger.x > 3"
CONFIG = {
    "method": "POST",
    "url": "{{ vars.base_url }}/customers/{{ trigger.customer_id }}/orders",
    "headers": {"x-execution": "{{ execution.id }}", "accept": "application/json"},
    "body": {"customer": "{{ nodes.fetch.body.name }}", "items": "{{ trigger.items }}"},
    "timeout_s": 10,
}


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of `fn`, timed in batches so the clock is not the bottleneck."""
    batch = 200
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def stock_celpy(source: str) -> Callable[[], object]:
    environment = celpy.Environment()
    program = environment.program(environment.compile(source))
    return lambda: program.evaluate({k: json_to_cel(v) for k, v in SCOPE.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()

    path = compile_expression(PATH)
    comparison = compile_expression(COMPARISON)
    forced = compile_expression(f"dyn({PATH})")
    template = compile_template(CONFIG)
    with_condition = compile_template(
        {**CONFIG, "note": "{{ nodes.fetch.status == 200 ? 'fresh' : 'stale' }} data"}
    )
    assert path.is_path and not comparison.is_path
    assert comparison.evaluate(SCOPE) is True and path.evaluate(SCOPE) == 42

    cases: list[tuple[str, Callable[[], object]]] = [
        (f"path         {PATH}", lambda: path.evaluate(SCOPE)),
        (f"comparison   {COMPARISON}", lambda: comparison.evaluate(SCOPE)),
        ("template     http config, 5 path expressions", lambda: template.render(SCOPE)),
        ("template     same + 1 CEL condition in text", lambda: with_condition.render(SCOPE)),
        (f"reference    path forced through CEL: dyn({PATH})", lambda: forced.evaluate(SCOPE)),
        ("reference    comparison, stock celpy interpreter + json_to_cel", stock_celpy(COMPARISON)),
    ]
    width = max(len(name) for name, _ in cases)
    for name, fn in cases:
        per_second = rate(fn, args.seconds)
        print(f"{name:<{width}}  {per_second:>12,.0f} /s  {1e6 / per_second:>9.2f} us")


if __name__ == "__main__":
    main()
