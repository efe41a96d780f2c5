"""Writes the Grafana dashboards in grafana/dashboards/ beside this file, one per service of
shared/fleet.py plus the gateway's and the event bus'.

    .venv/bin/python deploy/monitoring/generate_dashboards.py          # rewrite the files
    .venv/bin/python deploy/monitoring/generate_dashboards.py --check  # exit 1 if they differ

The JSON files are this script's output and are committed; tests/deploy/test_monitoring.py fails
when they differ from it. Queries use only the metrics the code exports (shared/observability.py,
shared/events/metrics.py, services/api_gateway/{forwarding,ratelimit}.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from shared.fleet import SERVICES, ServiceSpec  # noqa: E402

OUT = Path(__file__).resolve().parent / "grafana" / "dashboards"

PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}  # uids of grafana/provisioning/datasources
LOKI = {"type": "loki", "uid": "loki"}
RATE = "$__rate_interval"
# Held open by design: server-sent event streams, and at the gateway everything proxied to
# notification (one route template, its stream included). Left out of latency, as in rules.yml.
NOT_HELD_OPEN = 'route!~".*/stream|/api/v1/notifications/[*]"'

Panel = dict[str, Any]


def _targets(queries: tuple[tuple[str, str], ...], datasource: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"datasource": datasource, "refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
        for i, (expr, legend) in enumerate(queries)
    ]


def timeseries(
    title: str, unit: str, *queries: tuple[str, str], description: str = "", bars: bool = False
) -> Panel:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": PROMETHEUS,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": {"drawStyle": "bars" if bars else "line", "fillOpacity": 10, "lineWidth": 1},
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": _targets(queries, PROMETHEUS),
    }


def stat(title: str, unit: str, expr: str, description: str = "", red_from: float | None = None) -> Panel:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if red_from is not None:
        steps.append({"color": "red", "value": red_from})
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": PROMETHEUS,
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        },
        "targets": _targets(((expr, ""),), PROMETHEUS),
    }


def breaker_timeline(title: str, expr: str, legend: str, description: str) -> Panel:
    """gateway_breaker_state: 0 closed, 1 half-open, 2 open (services/api_gateway/forwarding.py)."""
    states = {"0": ("closed", "green"), "1": ("half-open", "yellow"), "2": ("open", "red")}
    return {
        "type": "state-timeline",
        "title": title,
        "description": description,
        "datasource": PROMETHEUS,
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "thresholds": {
                    "mode": "absolute",
                    "steps": [
                        {"color": "green", "value": None},
                        {"color": "yellow", "value": 1},
                        {"color": "red", "value": 2},
                    ],
                },
                "mappings": [
                    {
                        "type": "value",
                        "options": {
                            value: {"text": text, "color": color, "index": i}
                            for i, (value, (text, color)) in enumerate(states.items())
                        },
                    }
                ],
            },
            "overrides": [],
        },
        "options": {
            "showValue": "never",
            "mergeValues": True,
            "rowHeight": 0.8,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        },
        "targets": _targets(((expr, legend),), PROMETHEUS),
    }


def logs(title: str, expr: str, description: str = "") -> Panel:
    return {
        "type": "logs",
        "title": title,
        "description": description,
        "datasource": LOKI,
        "options": {
            "showTime": True,
            "wrapLogMessage": True,
            "enableLogDetails": True,
            "sortOrder": "Descending",
            "dedupStrategy": "none",
        },
        "targets": [{"datasource": LOKI, "refId": "A", "expr": expr, "queryType": "range"}],
        "width": 24,
    }


def dashboard(uid: str, title: str, description: str, panels: list[Panel]) -> dict[str, Any]:
    """Lays the panels out two to a row (a panel with "width": 24 takes a row of its own)."""
    x = y = 0
    placed = []
    for number, panel in enumerate(panels, start=1):
        panel = dict(panel)
        width = panel.pop("width", 12)
        if x + width > 24:
            x, y = 0, y + 8
        placed.append({"id": number, **panel, "gridPos": {"x": x, "y": y, "w": width, "h": 8}})
        x += width
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["bizosaas"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "schemaVersion": 39,
        "version": 1,
        "links": [{"type": "dashboards", "tags": ["bizosaas"], "asDropdown": True, "title": "BizOSaaS"}],
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": placed,
    }


def _quantile(q: float, selector: str, by: str = "") -> str:
    """The q-quantile of request durations from http_request_duration_seconds' buckets."""
    group = f"{by}, le" if by else "le"
    buckets = f"http_request_duration_seconds_bucket{{{selector}}}"
    return f"histogram_quantile({q}, sum by ({group}) (rate({buckets}[{RATE}])))"


def service_dashboard(spec: ServiceSpec) -> dict[str, Any]:
    name = spec.name
    own = f'service="{name}"'
    panels = [
        timeseries(
            "Requests per second by status",
            "reqps",
            (f"sum by (status) (rate(http_requests_total{{{own}}}[{RATE}]))", "{{status}}"),
        ),
        timeseries(
            "Server errors (5xx) per second by route",
            "reqps",
            (
                f'sum by (route, status) (rate(http_requests_total{{{own}, status=~"5.."}}[{RATE}]))',
                "{{status}} {{route}}",
            ),
        ),
        timeseries(
            "Error ratio (5xx of all answers)",
            "percentunit",
            (
                f'sum(rate(http_requests_total{{{own}, status=~"5.."}}[{RATE}]))'
                f" / sum(rate(http_requests_total{{{own}}}[{RATE}]))",
                "5xx ratio",
            ),
            description="The HighErrorRate alert fires above 5% for 5 minutes.",
        ),
        timeseries(
            "Latency p99 and p50",
            "s",
            (_quantile(0.99, f"{own}, {NOT_HELD_OPEN}"), "p99"),
            (_quantile(0.5, f"{own}, {NOT_HELD_OPEN}"), "p50"),
            description="Server-sent event streams are left out. The HighLatencyP99 alert fires above 1s for 10 minutes.",
        ),
        timeseries(
            "Latency p99 by route",
            "s",
            (_quantile(0.99, f"{own}, {NOT_HELD_OPEN}", by="route"), "{{route}}"),
        ),
        timeseries(
            "Requests in flight",
            "short",
            (f"sum(http_requests_in_flight{{{own}}})", "in flight"),
        ),
    ]
    if spec.schema:  # services with a database run the outbox relay (shared/app.py)
        panels += [
            timeseries(
                "Events published and handled per second",
                "ops",
                (
                    f"sum by (stream) (rate(events_published_total{{{own}}}[{RATE}]))",
                    "published to {{stream}}",
                ),
                (f"sum by (type) (rate(events_handled_total{{{own}}}[{RATE}]))", "handled {{type}}"),
            ),
            timeseries(
                "Outbox unpublished and messages not acked",
                "short",
                (f"max(outbox_unpublished{{{own}}})", "outbox unpublished"),
                (f"max by (stream) (events_pending{{{own}}})", "not acked from {{stream}}"),
            ),
        ]
    panels.append(
        logs(
            "Warnings and errors",
            f'{{service="{name}", level=~"WARNING|ERROR|CRITICAL"}}',
            description="From Loki (promtail parses the JSON log lines' level and service).",
        )
    )
    return dashboard(
        f"bizosaas-svc-{name}",
        f"BizOSaaS / {name}",
        f"HTTP traffic, errors and latency of {name} (port {spec.port}).",
        panels,
    )


def gateway_dashboard() -> dict[str, Any]:
    gw = 'service="api_gateway"'
    return dashboard(
        "bizosaas-gateway",
        "BizOSaaS / Gateway",
        "The public entry: traffic, latency, rate limits and the circuit breakers of its upstreams.",
        [
            timeseries(
                "Requests per second by status",
                "reqps",
                (f"sum by (status) (rate(http_requests_total{{{gw}}}[{RATE}]))", "{{status}}"),
            ),
            timeseries(
                "Forwarded requests per second by upstream",
                "reqps",
                (f"sum by (upstream) (rate(gateway_upstream_requests_total[{RATE}]))", "{{upstream}}"),
            ),
            timeseries(
                "Latency p99 at the gateway",
                "s",
                (_quantile(0.99, f"{gw}, {NOT_HELD_OPEN}"), "p99"),
                (_quantile(0.99, f"{gw}, {NOT_HELD_OPEN}", by="route"), "p99 {{route}}"),
                description="Whole requests as clients see them; notification's routes are left out "
                "(its event stream is held open).",
            ),
            timeseries(
                "Upstream time to response headers, p99",
                "s",
                (
                    "histogram_quantile(0.99, sum by (upstream, le) "
                    f"(rate(gateway_upstream_latency_seconds_bucket[{RATE}])))",
                    "{{upstream}}",
                ),
            ),
            timeseries(
                "Rate limited (429) per second",
                "reqps",
                (f'sum(rate(http_requests_total{{{gw}, status="429"}}[{RATE}]))', "429 answers"),
                (f"sum by (scope) (rate(gateway_rate_limited_total[{RATE}]))", "refused: {{scope}}"),
            ),
            timeseries(
                "Rate limits not checked (Redis unreachable)",
                "reqps",
                (f"sum(rate(gateway_rate_limit_unavailable_total[{RATE}]))", "unchecked"),
                description="With RATE_LIMIT_FAIL_OPEN these requests went through unlimited.",
            ),
            breaker_timeline(
                "Circuit breakers",
                "max by (upstream) (gateway_breaker_state)",
                "{{upstream}}",
                "Open: the upstream is answered 503 without being called. The GatewayBreakerOpen "
                "alert fires when one is not closed for a minute.",
            ),
            timeseries(
                "Upstream 5xx per second",
                "reqps",
                (
                    f'sum by (upstream, status) (rate(gateway_upstream_requests_total{{status=~"5.."}}[{RATE}]))',
                    "{{upstream}} {{status}}",
                ),
            ),
        ],
    )


def event_bus_dashboard() -> dict[str, Any]:
    return dashboard(
        "bizosaas-events",
        "BizOSaaS / Event bus",
        "Redis Streams events (DESIGN §4): outbox relay, consumers, dead letters.",
        [
            timeseries(
                "Published per second by service",
                "ops",
                (f"sum by (service) (rate(events_published_total[{RATE}]))", "{{service}}"),
            ),
            timeseries(
                "Handled per second by service",
                "ops",
                (f"sum by (service) (rate(events_handled_total[{RATE}]))", "{{service}}"),
            ),
            timeseries(
                "Outbox rows not yet published",
                "short",
                ("max by (service) (outbox_unpublished)", "{{service}}"),
                description="The OutboxBacklog alert fires above 100 for 10 minutes.",
            ),
            timeseries(
                "Delivered but not acked (pending)",
                "short",
                ("max by (service, stream) (events_pending)", "{{service}} from {{stream}}"),
                description="The EventsPending alert fires above 100 for 10 minutes.",
            ),
            timeseries(
                "Dead letters",
                "short",
                (
                    f"sum by (service, reason) (increase(events_dead_total[{RATE}]))",
                    "{{service}}: {{reason}}",
                ),
                bars=True,
                description="Messages moved to events.dead. List and replay them with "
                "python -m shared.events.dead.",
            ),
            stat(
                "Dead letters since the processes started",
                "short",
                "sum(events_dead_total)",
                description="events_dead_total summed over every process and reason.",
                red_from=1,
            ),
            timeseries(
                "Handler failures per second",
                "ops",
                (f"sum by (service, type) (rate(events_failed_total[{RATE}]))", "{{service}} {{type}}"),
            ),
            timeseries(
                "Duplicates skipped and messages lost",
                "short",
                (f"sum by (service) (rate(events_duplicate_total[{RATE}]))", "duplicates/s {{service}}"),
                (
                    f"sum by (service, stream) (increase(events_lost_total[{RATE}]))",
                    "lost {{service}} {{stream}}",
                ),
                description="Lost: pending messages trimmed from their stream (MAXLEN) before they were handled.",
            ),
            timeseries(
                "Handled per second by event type",
                "ops",
                (f"sum by (type) (rate(events_handled_total[{RATE}]))", "{{type}}"),
            ),
        ],
    )


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard."""
    files = {"gateway.json": gateway_dashboard(), "event-bus.json": event_bus_dashboard()}
    files.update({f"service-{spec.name}.json": service_dashboard(spec) for spec in SERVICES})
    return files


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    args = parser.parse_args(argv)
    wanted = {name: render(board) for name, board in dashboards().items()}
    existing = {path.name for path in OUT.glob("*.json")}
    differ = sorted(
        name
        for name, text in wanted.items()
        if not (OUT / name).is_file() or (OUT / name).read_text() != text
    )
    stale = sorted(existing - wanted.keys())
    if args.check:
        for name in differ + stale:
            print(f"{OUT / name} is not the generator's output", file=sys.stderr)
        return 1 if differ or stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name in differ:
        (OUT / name).write_text(wanted[name])
    for name in stale:
        (OUT / name).unlink()
    print(f"{len(differ)} written, {len(stale)} removed, {len(wanted)} dashboards in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
