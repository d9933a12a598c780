"""Every runtime process stops within seconds of SIGTERM, with work in flight (issue 16:
a processor once ignored SIGTERM for 45 s and needed SIGKILL)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from test_runtime_support import free_port, http_get, linear, runtime, unique_id
from test_timers_support import wait_until

STOP_WITHIN = 10.0  # seconds; each process is asked while an activity is running


def test_sigterm_stops_every_runtime_process_within_seconds(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    with runtime(kafka_bootstrap, tmp_path, "sigterm", start=False) as rt:
        rt.start_engine()
        rt.start_timers()
        rt.start_worker("worker", "default", "--drain-timeout", "1")
        rt.start_sink(database_url)
        port = free_port()
        rt.start_api(database_url, port)
        rt.ready()
        wf = unique_id("slow")
        rt.register(linear(wf, ["sleep"], s1={"seconds": 5}))
        execution_id = rt.client.start(wf, {})
        rt.wait_for_event(execution_id, "ActivityTaskStarted")
        # A wait of its own keeps a timer pending in the timers processor.
        rt.register(
            {
                "id": f"{wf}-wait",
                "version": 1,
                "nodes": [
                    {"id": "start", "type": "trigger"},
                    {"id": "pause", "type": "wait", "config": {"duration": "1h"}},
                ],
                "edges": [{"source": "start", "target": "pause"}],
            }
        )
        waiting = rt.client.start(f"{wf}-wait", {})
        rt.wait_for_event(waiting, "TimerStarted")
        wait_until(
            lambda: http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200, 60, "the API ready"
        )

        for name in ("engine", "timers", "worker", "sink", "api"):
            proc = rt.processes[name]
            began = time.monotonic()
            code = proc.kill(signal.SIGTERM, timeout=60)
            took = time.monotonic() - began
            print(f"{name} stopped {took:.2f}s after SIGTERM")
            assert took < STOP_WITHIN, f"{name} took {took:.1f}s to stop"
            assert code == 0, f"{name} exited {code}:\n{proc.log_text()[-3000:]}"

        # Started again, they finish what was in flight, and a new execution completes.
        rt.start_engine()
        rt.start_timers()
        rt.start_worker("worker", "default")
        assert rt.wait(execution_id).status == "completed"
        assert rt.run(wf, {}).status == "completed"
