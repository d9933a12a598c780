"""Lateness and throughput of the timers processor on the local broker.

    .venv/bin/python tests/bench/timers_bench.py [--timers 5000] [--spread 5] [--lead 10]

Creates topics of its own (a fresh prefix), starts `python -m processors.timers` on them,
writes N TimerStarted events due evenly over `--spread` seconds starting `--lead` seconds
from now (the processor must have read them by then), consumes the TimerFired inputs and
prints, over the first fire of each timer:

- lateness as the processor saw it (fired_at_ms - fire_at_ms) and end to end (the moment
  this script read the TimerFired - fire_at_ms), p50/p99/max;
- fires per second (timers / time from the first fire to the last);
- how fast the processor ingested the history (records per second, from the first write
  to the processor's commit of the last); `--other-events` adds events it only skips.

Everything it created is deleted at the end. Needs `linkflow dev up` (or
LINKFLOW_KAFKA_BOOTSTRAP).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_timers_support import (
    HistoryWriter,
    ResultsReader,
    TimersProcess,
    history_event,
    now_ms,
    timer_started,
    topics_of_our_own,
    unique,
    wait_committed,
    wait_ready,
)

from linkflow import settings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def describe(label: str, values: list[float]) -> str:
    return (
        f"{label:<28} p50 {percentile(values, 0.50):7.1f} ms   "
        f"p99 {percentile(values, 0.99):7.1f} ms   max {max(values):7.1f} ms   "
        f"mean {statistics.fmean(values):7.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timers", type=int, default=5000, help="TimerStarted events to write")
    parser.add_argument("--spread", type=float, default=5.0, help="seconds the due times span")
    parser.add_argument("--lead", type=float, default=10.0, help="seconds until the first is due")
    parser.add_argument(
        "--other-events",
        type=int,
        default=0,
        help="history events of other types (NodeSkipped) written before the timers; the "
        "processor reads and skips them, as it does most of a real history",
    )
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    bootstrap = args.bootstrap or settings.kafka_bootstrap()

    with (
        topics_of_our_own(bootstrap, "bench-timers") as topics,
        tempfile.TemporaryDirectory() as tmp,
    ):
        writer = HistoryWriter(topics)
        reader = ResultsReader(topics)
        # No resends during the run: the bench measures first fires, and nobody confirms.
        proc = TimersProcess(
            topics,
            Path(tmp) / "state",
            extra=["--resend-interval", "600", "--loglevel", "WARNING"],
        ).start()
        try:
            wait_ready(proc, writer, reader)
            reader.read_to_end()
            reader.fired.clear()
            run = unique("bench")
            start = now_ms() + int(args.lead * 1000)
            step = args.spread * 1000 / max(1, args.timers - 1)
            due = {f"{run}-{i}": start + int(i * step) for i in range(args.timers)}
            others = (
                history_event(
                    f"{run}-{i % max(1, args.timers)}", "NodeSkipped", node_id="n", scope=""
                )
                for i in range(args.other_events)
            )
            written_at = time.monotonic()
            offsets = writer.write(*others, *(timer_started(e, "t", at) for e, at in due.items()))
            wait_committed(topics, proc.app_id, offsets)
            ingest_s = time.monotonic() - written_at
            if now_ms() > start:
                print(f"warning: ingest took longer than --lead ({ingest_s:.1f}s)")

            # (fired_at_ms, record timestamp, read here) of each timer's first TimerFired
            first: dict[str, tuple[int, int, int]] = {}
            deadline = time.monotonic() + args.lead + args.spread + 120
            while len(first) < len(due):
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {len(first)} of {len(due)} timers fired")
                reader.poll(0.002)  # short: this loop's wait is part of the end-to-end figure
                read_at = now_ms()
                for fired in reader.fired:
                    if fired.execution_id in due and fired.execution_id not in first:
                        first[fired.execution_id] = (
                            fired.fired_at_ms,
                            fired.timestamp_ms,
                            read_at,
                        )
                reader.fired.clear()
        finally:
            proc.stop()
            reader.close()

    processor_side = [float(first[e][0] - at) for e, at in due.items()]
    produced = [float(first[e][1] - at) for e, at in due.items()]
    end_to_end = [float(first[e][2] - at) for e, at in due.items()]
    fire_times = sorted(fired_at for fired_at, _, _ in first.values())
    span = max(1, fire_times[-1] - fire_times[0]) / 1000
    early = sum(1 for v in processor_side if v < 0)
    print(f"timers: {len(due)} due over {args.spread:g}s ({len(due) / args.spread:.0f}/s offered)")
    total = len(due) + args.other_events
    print(
        f"ingest: {total / ingest_s:,.0f} history events/s ({ingest_s:.2f}s for {len(due)} "
        f"TimerStarted and {args.other_events} other events)"
    )
    print(describe("lateness (processor)", processor_side))
    print(describe("lateness (record timestamp)", produced))
    print(describe("lateness (read by consumer)", end_to_end))
    print(f"fires/s: {len(due) / span:,.0f} (first to last fire {span:.2f}s)")
    print(f"fired early: {early}")
    return 0 if early == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
