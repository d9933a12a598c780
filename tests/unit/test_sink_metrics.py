"""The shared metric names (linkflow/metrics.py) and the Grafana dashboard that reads them."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

from linkflow import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "linkflow.json"


def _exposed_sample_names() -> set[str]:
    # Touch the lazily created API metrics so they are registered too.
    for name in (
        "API_REQUESTS",
        "API_REQUEST_DURATION",
        "API_COMMANDS_PUBLISHED",
        "API_SSE_STREAMS",
    ):
        getattr(metrics, name)
    names: set[str] = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("linkflow_"):
            continue
        names.add(family.name)
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_count", "_sum"),
        }.get(family.type, ("",))
        names.update(family.name + s for s in suffixes)
    return names


def _exprs(panels: list[dict]) -> list[str]:
    out = []
    for panel in panels:
        out.extend(t["expr"] for t in panel.get("targets", []))
        out.extend(_exprs(panel.get("panels", [])))
    return out


def test_dashboard_only_uses_defined_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used = {m for e in _exprs(dashboard["panels"]) for m in re.findall(r"linkflow_[a-z_]+", e)}
    assert used, "the dashboard queries no LinkFlow metric"
    missing = used - _exposed_sample_names()
    assert not missing, f"dashboard queries metrics linkflow/metrics.py does not define: {missing}"


def test_dashboard_covers_the_required_views() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    text = " ".join(_exprs(dashboard["panels"]))
    for needed in (
        "linkflow_executions_completed_total",
        "linkflow_activity_duration_seconds_bucket",
        "linkflow_consumer_lag_messages",
        "linkflow_timer_lateness_seconds_bucket",
        "linkflow_sink_lag_messages",
        "linkflow_api_request_duration_seconds_bucket",
    ):
        assert needed in text, needed
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_documented_names_match_the_definitions() -> None:
    doc = metrics.__doc__ or ""
    documented = set(re.findall(r"^\s+(linkflow_[a-z_]+)", doc, re.MULTILINE))
    exposed = _exposed_sample_names()
    assert documented <= exposed, documented - exposed
    defined = {f.name for f in REGISTRY.collect() if f.name.startswith("linkflow_")}
    # Every family is documented (as itself or with its _total suffix).
    undocumented = {n for n in defined if n not in documented and n + "_total" not in documented}
    assert not undocumented, undocumented


def test_serve_exposes_the_metrics() -> None:
    import urllib.request

    port = metrics.serve(0, addr="127.0.0.1")
    metrics.SINK_EVENTS.inc(0)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body = response.read().decode()
    assert "linkflow_sink_events_total" in body
    text, content_type = metrics.render()
    assert b"linkflow_sink_lag_messages" in text and content_type.startswith("text/plain")


def test_worker_metrics_are_one_collector_in_both_modules() -> None:
    worker_metrics = importlib.import_module("linkflow.worker.metrics")
    assert metrics.ACTIVITY_DURATION is worker_metrics.ACTIVITY_DURATION
    assert metrics.ACTIVITIES is worker_metrics.ACTIVITIES
    assert metrics.WORKER_ACTIVITIES_IN_FLIGHT is worker_metrics.IN_FLIGHT
    assert metrics.CIRCUIT_OPEN is worker_metrics.CIRCUIT_OPEN
