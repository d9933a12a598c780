"""Decisions per second of the pure engine in one process (no Kafka, no I/O).

    .venv/bin/python tests/bench/engine_bench.py [--executions N] [--repeat R]

Scenarios:
  linear-3     trigger -> a -> b -> c (three activities): 4 decisions per execution
               (StartWorkflow, then one ActivityCompleted per activity)
  fanout-50    trigger -> 50 parallel activities -> merge -> transform: 51 decisions
  replay       folding the linear-3 histories through the appliers (events per second)

A "decision" is one Engine.decide call: applying its events to the state and deriving the
effects included. Figures are the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from linkflow.engine import ActivityCompleted, Engine, HistoryEvent, StartWorkflow, fold
from linkflow.model import Catalog
from linkflow.worker.registry import installed_node_types

LINEAR = {
    "id": "linear3",
    "version": 1,
    "nodes": [
        {"id": "start", "type": "trigger"},
        {"id": "a", "type": "http", "config": {"url": "https://svc/{{ trigger.id }}"}},
        {"id": "b", "type": "echo", "config": {"value": "{{ nodes.a.body }}"}},
        {"id": "c", "type": "noop", "config": {}},
    ],
    "edges": [
        {"source": "start", "target": "a"},
        {"source": "a", "target": "b"},
        {"source": "b", "target": "c"},
    ],
}

FAN = 50
FANOUT = {
    "id": "fanout50",
    "version": 1,
    "nodes": [{"id": "start", "type": "trigger"}]
    + [{"id": f"b{i}", "type": "noop", "config": {"i": i}} for i in range(FAN)]
    + [
        {"id": "join", "type": "merge", "config": {}},
        {"id": "count", "type": "transform", "config": {"value": "{{ size(nodes.join) }}"}},
    ],
    "edges": [{"source": "start", "target": f"b{i}"} for i in range(FAN)]
    + [{"source": f"b{i}", "target": "join"} for i in range(FAN)]
    + [{"source": "join", "target": "count"}],
}


def run_linear(engine: Engine, n: int, keep: list[list[HistoryEvent]] | None = None) -> int:
    decisions = 0
    for i in range(n):
        eid = f"lin-{i}"
        d = engine.decide(
            None,
            StartWorkflow(request_id=eid, execution_id=eid, workflow_id="linear3", input={"id": i}),
            1_000,
        )
        state = d.state
        events = list(d.events)
        for activity, result in (("a", {"body": i}), ("b", i), ("c", None)):
            d = engine.decide(
                state,
                ActivityCompleted(execution_id=eid, activity_id=activity, attempt=1, result=result),
                2_000,
            )
            events.extend(d.events)
        decisions += 4
        assert state is not None and state.status == "completed"
        if keep is not None:
            keep.append(events)
    return decisions


def run_fanout(engine: Engine, n: int) -> int:
    decisions = 0
    ids = [f"b{i}" for i in range(FAN)]
    for i in range(n):
        eid = f"fan-{i}"
        d = engine.decide(
            None, StartWorkflow(request_id=eid, execution_id=eid, workflow_id="fanout50"), 1_000
        )
        state = d.state
        for activity in ids:
            engine.decide(
                state,
                ActivityCompleted(execution_id=eid, activity_id=activity, attempt=1, result=1),
                2_000,
            )
        decisions += 1 + FAN
        assert state is not None and state.status == "completed" and state.output == FAN
    return decisions


def best(repeat: int, fn: Callable[[], int]) -> tuple[float, int]:
    results = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        count = fn()
        results.append((time.perf_counter() - started, count))
    return min(results)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--executions", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    catalog = Catalog([LINEAR, FANOUT], registry=installed_node_types())
    engine = Engine(catalog)
    run_linear(engine, 50)  # warm caches (plans, compiled templates)
    run_fanout(engine, 5)

    n = args.executions
    seconds, decisions = best(args.repeat, lambda: run_linear(engine, n))
    print(
        f"linear-3   {n:>7} executions  {decisions:>8} decisions  {seconds:7.3f} s"
        f"  {decisions / seconds:>10,.0f} decisions/s  {n / seconds:>9,.0f} workflows/s"
    )
    fan_n = max(1, n // 20)
    seconds, decisions = best(args.repeat, lambda: run_fanout(engine, fan_n))
    print(
        f"fanout-50  {fan_n:>7} executions  {decisions:>8} decisions  {seconds:7.3f} s"
        f"  {decisions / seconds:>10,.0f} decisions/s  {fan_n / seconds:>9,.0f} workflows/s"
    )
    histories: list[list[HistoryEvent]] = []
    run_linear(engine, n, histories)
    total_events = sum(len(h) for h in histories)

    def replay_all() -> int:
        for history in histories:
            fold(history, catalog)
        return total_events

    seconds, events = best(args.repeat, replay_all)
    print(
        f"replay     {n:>7} histories   {events:>8} events     {seconds:7.3f} s"
        f"  {events / seconds:>10,.0f} events/s"
    )


if __name__ == "__main__":
    main()
