"""A soak: random SIGKILLs of random runtime processes, for N minutes, under a steady load;
then the checker over history and PostgreSQL.

    .venv/bin/python tests/chaos/soak.py --minutes 30 [--rate 20] [--kill-every 20]

Runs on the local stack (`linkflow dev up` first) with topics of its own. Two history
processors, the timers processor, two workers and the sink run as child processes; every
`--kill-every` seconds (on average) one of them, chosen at random, is SIGKILLed and started
again, as a supervisor would. The load is a workflow with activities, a wait and parallel
branches. At the end the load stops, every started execution must end, and the checker's
table is printed; the exit status is 1 if anything was lost, doubled or mismatched.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from checker import loader, verified
from test_runtime_kills import waits_and_branches
from test_runtime_support import OUTCOME_TIMEOUT, Runtime, runtime, unique_id

from linkflow import dev


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=20.0, help="starts per second")
    parser.add_argument("--kill-every", type=float, default=20.0, help="mean seconds")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    stack = dev.up()
    print(f"soak: {args.minutes} min, {args.rate}/s, a kill every ~{args.kill_every}s, seed {seed}")
    with (
        tempfile.TemporaryDirectory(prefix="linkflow-soak-") as work,
        runtime(stack.kafka_bootstrap_servers, Path(work), "soak", start=False) as rt,
    ):
        return _soak(rt, stack.database_url, args, rng)


def _soak(rt: Runtime, database_url: str, args: argparse.Namespace, rng: random.Random) -> int:
    start: dict[str, Any] = {
        "engine-1": lambda: rt.start_engine("engine-1", "--session-timeout", "6"),
        "engine-2": lambda: rt.start_engine("engine-2", "--session-timeout", "6"),
        "timers": lambda: rt.start_timers(),
        "worker-1": lambda: rt.start_worker("worker-1", "default"),
        "worker-2": lambda: rt.start_worker("worker-2", "default"),
        "sink": lambda: rt.start_sink(database_url),
    }
    for begin in start.values():
        begin()
    rt.ready()
    wf = unique_id("soak")
    rt.register(waits_and_branches(wf))
    ids: list[str] = []
    load = loader(rt, wf, ids)
    kills: Counter[str] = Counter()
    began = time.monotonic()
    end = began + args.minutes * 60
    next_kill = began + rng.expovariate(1 / args.kill_every)
    last_report = began
    while time.monotonic() < end:
        load(max(1, round(args.rate)))
        now = time.monotonic()
        if now >= next_kill:
            victim = rng.choice(sorted(start))
            rt.processes[victim].kill()
            start[victim]()
            kills[victim] += 1
            next_kill = now + rng.expovariate(1 / args.kill_every)
        if now - last_report >= 60:
            print(f"  {int(now - began)}s: {len(ids)} started, kills {dict(kills)}", flush=True)
            last_report = now
        time.sleep(1.0)  # the load's pace: `rate` starts a second
    print(f"load stopped: {len(ids)} started, kills {dict(kills)}; waiting for the ends")
    for execution_id in ids:
        rt.wait(execution_id, timeout=OUTCOME_TIMEOUT)
    report = verified(rt.topics.bootstrap, rt.prefix, ids, "soak", database_url)
    return 0 if report.ok and report.mismatched_rows == [] else 1


if __name__ == "__main__":
    sys.exit(main())
