"""A soak: random SIGKILLs of random runtime processes, for N minutes, under a steady load;
the processes run under `linkflow up`'s supervisor, which starts each killed one again (the
real restart path); then the checker over history and PostgreSQL.

    .venv/bin/python tests/chaos/soak.py --minutes 30 [--rate 20] [--kill-every 20]

Runs on the local stack (started if needed) with topics of its own. Two history
processors, the timers processor, two workers and the sink are supervised; every
`--kill-every` seconds (on average) one of them, chosen at random, is SIGKILLed. The load is
a workflow with activities, a wait and parallel branches. At the end the load stops, every
started execution must end, and the checker's table is printed; the exit status is 1 if
anything was lost, doubled or mismatched.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from checker import verified
from test_runtime_kills import waits_and_branches
from test_timers_support import Topics, topics_of_our_own

from linkflow import dev
from linkflow.client import Client
from linkflow.dev.services import Service
from linkflow.dev.supervisor import Supervisor
from linkflow.verify import check

DRAIN_TIMEOUT = 300.0  # seconds after the load stops for every execution to end


def services(topics: Topics, database_url: str, work: Path) -> list[Service]:
    """The runtime under `topics.prefix`, as `linkflow` commands (no spaces in any value)."""
    b, p = topics.bootstrap, topics.prefix
    processor = "--bootstrap {b} --app-id {p}{app} --datadir {d} --topic-prefix {p} " + (
        "--session-timeout 6"
    )
    worker = (
        "worker --queue default --bootstrap-servers {b} --topic-prefix {p} --identity {n} "
        "--consumer-config session.timeout.ms=6000"
    )
    sink = (
        "sink run --bootstrap {b} --database-url {u} --topic {p}linkflow.history "
        "--dlq-topic {p}linkflow.dlq --group {p}sink"
    )
    commands = {
        "engine-1": "engine run " + processor.format(b=b, p=p, app="history", d=work / "e1"),
        "engine-2": "engine run " + processor.format(b=b, p=p, app="history", d=work / "e2"),
        "timers": "timers run " + processor.format(b=b, p=p, app="timers", d=work / "t"),
        "worker-1": worker.format(b=b, p=p, n="worker-1"),
        "worker-2": worker.format(b=b, p=p, n="worker-2"),
        "sink": sink.format(b=b, p=p, u=database_url),
    }
    return [Service(name, tuple(command.split())) for name, command in commands.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=20.0, help="starts per second")
    parser.add_argument("--kill-every", type=float, default=20.0, help="mean seconds")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    stack = dev.up()
    print(f"soak: {args.minutes} min, {args.rate}/s, a kill every ~{args.kill_every}s, seed {seed}")
    with (
        tempfile.TemporaryDirectory(prefix="linkflow-soak-") as tmp,
        topics_of_our_own(stack.kafka_bootstrap_servers, "soak") as topics,
    ):
        work = Path(tmp)
        supervisor = Supervisor(services(topics, stack.database_url, work), state=work, grace=10)
        thread = threading.Thread(target=supervisor.run, name="supervisor", daemon=True)
        thread.start()
        client = Client(topics.bootstrap, topic_prefix=topics.prefix)
        try:
            return _soak(supervisor, client, topics, stack.database_url, args, random.Random(seed))
        finally:
            client.close()
            supervisor.stop()
            thread.join(60)


def _soak(
    supervisor: Supervisor,
    client: Client,
    topics: Topics,
    database_url: str,
    args: argparse.Namespace,
    rng: random.Random,
) -> int:
    wf = f"soak-{rng.randrange(1 << 30):x}"
    client.register(waits_and_branches(wf))
    ids: list[str] = []
    kills: Counter[str] = Counter()
    names = [child.service.name for child in supervisor.children]
    began = time.monotonic()
    end = began + args.minutes * 60
    next_kill = began + rng.expovariate(1 / args.kill_every)
    last_report = began
    while time.monotonic() < end:
        ids.extend(client.start(wf, {"n": len(ids) + i}) for i in range(round(args.rate)))
        client.flush()
        now = time.monotonic()
        if now >= next_kill:
            victim = rng.choice(names)
            pid = supervisor.pid(victim)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)  # the supervisor starts it again
                kills[victim] += 1
            next_kill = now + rng.expovariate(1 / args.kill_every)
        if now - last_report >= 60:
            print(f"  {int(now - began)}s: {len(ids)} started, kills {dict(kills)}", flush=True)
            last_report = now
        time.sleep(1.0)  # the load's pace: `rate` starts a second
    print(f"load stopped: {len(ids)} started, kills {dict(kills)}; waiting for the ends")
    # One read of history per pass (not one per execution: that is quadratic, and a
    # 30-minute soak starts tens of thousands), until nothing is missing or time is up.
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        report = check(topics.bootstrap, topic_prefix=topics.prefix, accepted=ids)
        if not report.lost or time.monotonic() > deadline:
            break
        print(f"  {len(report.lost)} executions not ended yet", flush=True)
    report = verified(topics.bootstrap, topics.prefix, ids, "soak", database_url)
    restarts = {c.service.name: c.restarts for c in supervisor.children}
    print(f"restarts by the supervisor: {restarts}")
    return 0 if report.ok and report.mismatched_rows == [] else 1


if __name__ == "__main__":
    sys.exit(main())
