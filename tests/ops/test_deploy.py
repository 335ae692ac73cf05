"""V5: the Grafana dashboard and the Prometheus alert rules (issue 25) load, and every metric
they name is one the product exposes. promtool checks the rules when it is installed
(Debian's `prometheus` package, or PROMTOOL=/path/to/promtool); the YAML check always runs.
Nothing here needs the network."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
FIVE = {
    "TeamInboxSalesforceFailing",
    "TeamInboxSalesforceReconnectNeeded",
    "TeamInboxListenerUnhealthy",
    "TeamInboxWebhookBacklogOld",
    "TeamInboxSalesforceApiBudgetHigh",
}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
METRIC = re.compile(r"\bteaminbox_[a-z0-9_]+")


def exposed_metric_names(client) -> set[str]:
    """Sample names /metrics can carry (from its TYPE lines; labelled series appear in them
    before their first sample)."""
    text = client.get("/metrics").content.decode()
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        if kind == "counter" and not name.endswith("_total"):
            names.add(f"{name}_total")
    return names


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def test_v5_alert_rules_have_the_five_alerts_in_prometheus_rule_syntax():
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    rules = []
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        assert isinstance(group["name"], str) and group["name"]
        rules += group["rules"]
    assert {rule["alert"] for rule in rules} == FIVE
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
        assert isinstance(rule["expr"], str) and _balanced(rule["expr"]), rule["alert"]
        assert DURATION.match(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        for text in rule["annotations"].values():
            assert text.count("{{") == text.count("}}"), rule["alert"]
    backlog = next(r for r in rules if r["alert"] == "TeamInboxWebhookBacklogOld")
    assert "teaminbox_webhook_outbox_oldest_age_seconds" in backlog["expr"]
    assert "> 600" in backlog["expr"]  # older than 10 minutes
    budget = next(r for r in rules if r["alert"] == "TeamInboxSalesforceApiBudgetHigh")
    assert "> 0.8" in budget["expr"]  # above 80%


@pytest.mark.skipif(
    not (os.environ.get("PROMTOOL") or shutil.which("promtool")),
    reason="promtool not installed (Debian: apt-get install prometheus)",
)
def test_v5_promtool_checks_the_alert_rules():
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    done = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


@pytest.mark.django_db
def test_v5_rules_and_dashboard_name_only_metrics_the_product_exposes(client):
    exposed = exposed_metric_names(client)
    used_by_rules = set(METRIC.findall(ALERTS.read_text()))
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used_by_dashboard = set(METRIC.findall("\n".join(exprs)))
    assert used_by_rules and used_by_dashboard
    assert used_by_rules - exposed == set()
    assert used_by_dashboard - exposed == set()


def test_v5_the_dashboard_is_a_grafana_dashboard_covering_the_issue_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "teaminbox" and dashboard["title"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["targets"] and all(
                t["expr"] and _balanced(t["expr"]) for t in panel["targets"]
            )
    text = json.dumps(panels)
    for metric in (
        "teaminbox_salesforce_calls_total",
        "teaminbox_salesforce_lookup_seconds_bucket",
        "teaminbox_salesforce_cache_requests_total",
        "teaminbox_salesforce_single_flight_waits_total",
        "teaminbox_salesforce_api_budget_used_ratio_max",
        "teaminbox_salesforce_refresh_grants_total",
        "teaminbox_salesforce_reconnect_needed_total",
        "teaminbox_salesforce_listener_connections",
        "teaminbox_salesforce_listener_lag_seconds_bucket",
        "teaminbox_salesforce_listener_events_total",
        "teaminbox_webhook_outbox_pending",
        "teaminbox_webhook_outbox_oldest_age_seconds",
        "teaminbox_webhook_deliveries_total",
        "teaminbox_inbound_messages_total",
        "teaminbox_live_connections_open",
    ):
        assert metric in text, metric
