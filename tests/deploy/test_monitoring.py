"""The monitoring stack in deploy/monitoring/: Prometheus scrapes every service of shared/fleet.py,
its rules and Grafana's dashboards ask only for metrics the code exports, and promtool accepts it
all. promtool comes from ./run-tests.sh (Debian package `prometheus`); without it these tests fail.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from shared.fleet import SERVICES
from shared.observability import JsonFormatter

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"
RULES = MONITORING / "prometheus" / "rules.yml"
RULE_TESTS = MONITORING / "prometheus" / "rules.test.yml"
DATASOURCES = MONITORING / "grafana" / "provisioning" / "datasources" / "datasources.yml"
PROVIDERS = MONITORING / "grafana" / "provisioning" / "dashboards" / "dashboards.yml"
DASHBOARDS = MONITORING / "grafana" / "dashboards"
GENERATOR = MONITORING / "generate_dashboards.py"
LOKI = MONITORING / "loki" / "loki.yml"
PROMTAIL = MONITORING / "promtail" / "promtail.yml"

OPERATOR_TOKEN_FILE = "/run/secrets/gateway_operator_token"
# Series Prometheus makes itself for every target, and the labels it adds to every scraped series.
PROMETHEUS_SERIES = {"up": frozenset()}
TARGET_LABELS = frozenset({"job", "instance"})


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail(
            "promtool is not installed, so the Prometheus config and rules cannot be checked. "
            "./run-tests.sh installs it on Debian (apt-get install -y --no-install-recommends "
            "prometheus, as root); elsewhere install Prometheus' promtool and put it on PATH.",
            pytrace=False,
        )
    return subprocess.run(
        [binary, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{' '.join(result.args)} failed:\n{result.stdout}{result.stderr}"


# --- What the code exports ---------------------------------------------------------------------

_DEFINES_METRIC = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*[\"']")
# The series a metric family is exposed as, by type (prometheus_client's text format).
_SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def _metric_modules() -> Iterator[ModuleType]:
    """Every module of shared/ and services/ that defines a prometheus_client metric."""
    for top in ("shared", "services"):
        for path in sorted((REPO / top).rglob("*.py")):
            text = path.read_text()
            if "prometheus_client" in text and _DEFINES_METRIC.search(text):
                yield importlib.import_module(".".join(path.relative_to(REPO).with_suffix("").parts))


@functools.cache
def exported() -> dict[str, frozenset[str]]:
    """Series name -> label names, for everything the services' /metrics can show: the default
    registry (the one /metrics serves, shared/app.py) once every metric-defining module is loaded."""
    declared: dict[str, frozenset[str]] = {}
    for module in _metric_modules():
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                declared[value.describe()[0].name] = frozenset(value._labelnames)
    series: dict[str, frozenset[str]] = {}
    for family in REGISTRY.collect():
        labels = declared.get(family.name, frozenset()).union(*(s.labels for s in family.samples))
        for suffix in _SERIES_SUFFIXES.get(family.type, ("",)):
            series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def test_the_code_exports_the_metrics_monitoring_is_built_on() -> None:
    names = exported()
    for name, labels in {
        "http_requests_total": {"service", "method", "route", "status"},
        "http_request_duration_seconds_bucket": {"service", "method", "route", "le"},
        "http_requests_in_flight": {"service"},
        "gateway_breaker_state": {"upstream"},
        "gateway_rate_limited_total": {"scope"},
        "events_published_total": {"service", "stream"},
        "events_handled_total": {"service", "type"},
        "events_pending": {"service", "stream"},
        "outbox_unpublished": {"service"},
        "events_dead_total": {"service", "reason"},
    }.items():
        assert names.get(name) == labels, f"{name}: {names.get(name)}"


# --- PromQL, loosely: metric names and label names ---------------------------------------------

_GRAFANA_VARIABLE = re.compile(r"\$(?:\{\w+\}|\w+)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "inf", "nan"}
)


def promql_problems(expr: str) -> list[str]:
    """Metric names the code does not export, and label names those metrics do not have."""
    known = {**exported(), **PROMETHEUS_SERIES}
    expr = _GRAFANA_VARIABLE.sub("5m", expr)
    problems = []
    for name, body in _SELECTOR.findall(expr):
        for label in _MATCHER.findall(_STRING.sub('""', body)):
            if name in known and label not in known[name] | TARGET_LABELS:
                problems.append(f"{name} has no label {label!r}")
    bare = _STRING.sub('""', expr)
    grouping = {label.strip() for labels in _GROUPING.findall(bare) for label in labels.split(",")}
    bare = _GROUPING.sub(" ", bare)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"\"", " ", bare)
    names = {name for name in _IDENTIFIER.findall(bare) if name.lower() not in _KEYWORDS}
    problems += [f"{name} is not a metric the code exports" for name in sorted(names - known.keys())]
    available = TARGET_LABELS.union(*(known[name] for name in names if name in known))
    problems += [
        f"grouping label {label!r} is on none of {sorted(names)}" for label in grouping - available - {""}
    ]
    return problems


def test_the_promql_check_catches_unknown_metrics_and_labels() -> None:
    assert (
        promql_problems('sum by (service) (rate(http_requests_total{status=~"5.."}[$__rate_interval]))') == []
    )
    assert promql_problems("http_request_total > 0")
    assert promql_problems("sum(rate(http_request_duration_seconds[5m]))")  # the buckets are *_bucket
    assert promql_problems('events_dead_total{services="x"}')
    assert promql_problems("sum by (stream) (outbox_unpublished)")
    assert promql_problems("up == 0") == []


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _load_yaml(RULES)["groups"] for rule in group["rules"]]


def _prometheus_targets(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, expression) of every Prometheus query of a dashboard."""
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            source = target.get("datasource") or panel.get("datasource") or {}
            if source.get("type") == "prometheus":
                yield panel["title"], target["expr"]


def _dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


# --- Prometheus --------------------------------------------------------------------------------


def test_promtool_accepts_the_config_and_its_rule_files(tmp_path: Path) -> None:
    """Checked in full (rule files included) on a copy whose token file exists."""
    config = PROMETHEUS_CONFIG.read_text()
    setting = f"credentials_file: {OPERATOR_TOKEN_FILE}"
    assert config.count(setting) == 1
    token = tmp_path / "gateway_operator_token"
    token.write_text("token-for-promtool\n")
    (tmp_path / "prometheus.yml").write_text(config.replace(setting, f"credentials_file: {token}"))
    shutil.copy(RULES, tmp_path / "rules.yml")
    _assert_ok(_promtool("check", "config", "--lint-fatal", "prometheus.yml", cwd=tmp_path))


def test_promtool_accepts_the_rules() -> None:
    _assert_ok(_promtool("check", "rules", "--lint-fatal", RULES))


def test_the_alerts_fire_when_they_should() -> None:
    """deploy/monitoring/prometheus/rules.test.yml: each alert on series shaped like the code's."""
    _assert_ok(_promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent))


def test_every_service_of_the_fleet_is_scraped_on_its_port() -> None:
    jobs = {job["job_name"]: job for job in _load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    for spec in SERVICES:
        job = jobs.get(spec.name)
        assert job is not None, f"no scrape job for {spec.name}"
        targets = [t for static in job["static_configs"] for t in static["targets"]]
        assert targets == [f"{spec.name}:{spec.port}"], spec.name
        assert job.get("metrics_path", "/metrics") == "/metrics"
    assert set(jobs) == {spec.name for spec in SERVICES}, "a scrape job for a service not in the fleet"


def test_the_gateway_is_scraped_with_the_operator_token() -> None:
    """The gateway's /metrics needs GATEWAY_OPERATOR_TOKEN (services/api_gateway/middleware.py)."""
    jobs = {job["job_name"]: job for job in _load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    assert jobs["api_gateway"]["authorization"] == {"type": "Bearer", "credentials_file": OPERATOR_TOKEN_FILE}


def test_the_rules_use_only_metrics_the_code_exports() -> None:
    problems = [f"{rule['alert']}: {p}" for rule in _rules() for p in promql_problems(rule["expr"])]
    assert problems == []


def test_the_alerts_cover_errors_latency_breakers_pending_events_and_dead_letters() -> None:
    by_name = {rule["alert"]: rule["expr"] for rule in _rules()}
    for alert, metric in {
        "HighErrorRate": "http_requests_total",
        "HighLatencyP99": "http_request_duration_seconds_bucket",
        "GatewayBreakerOpen": "gateway_breaker_state",
        "OutboxBacklog": "outbox_unpublished",
        "EventsPending": "events_pending",
        "EventsDeadLettered": "events_dead_total",
    }.items():
        assert metric in by_name.get(alert, ""), alert
    for rule in _rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


# --- Grafana -----------------------------------------------------------------------------------


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_dashboards", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dashboards_are_the_generators_output() -> None:
    generator = _generator()
    wanted = {name: generator.render(board) for name, board in generator.dashboards().items()}
    committed = {path.name: path.read_text() for path in DASHBOARDS.glob("*.json")}
    assert sorted(committed) == sorted(wanted), "run deploy/monitoring/generate_dashboards.py"
    for name, text in wanted.items():
        assert committed[name] == text, f"{name} differs: run deploy/monitoring/generate_dashboards.py"


def test_the_dashboards_are_valid_with_unique_uids() -> None:
    boards = _dashboards()
    assert boards
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids), uids
    sources = {source["uid"]: source["type"] for source in _load_yaml(DATASOURCES)["datasources"]}
    for name, board in boards.items():
        assert 0 < len(board["uid"]) <= 40 and board["title"], name
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids), name
        for panel in board["panels"]:
            assert panel["targets"], f"{name}: {panel['title']} has no query"
            for target in panel["targets"]:
                source = target.get("datasource") or panel["datasource"]
                assert sources.get(source["uid"]) == source["type"], f"{name}: unknown data source {source}"


def test_the_dashboards_use_only_metrics_the_code_exports() -> None:
    problems = [
        f"{name} / {title}: {problem}"
        for name, board in _dashboards().items()
        for title, expr in _prometheus_targets(board)
        for problem in promql_problems(expr)
    ]
    assert problems == []


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """Each query becomes a recording rule so that promtool parses it."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": _GRAFANA_VARIABLE.sub("5m", expr)}
        for i, expr in enumerate(
            expr for board in _dashboards().values() for _, expr in _prometheus_targets(board)
        )
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    _assert_ok(_promtool("check", "rules", path))


def test_every_service_of_the_fleet_has_a_dashboard() -> None:
    by_uid = {board["uid"]: board for board in _dashboards().values()}
    for spec in SERVICES:
        board = by_uid.get(f"bizosaas-svc-{spec.name}")
        assert board is not None, f"no dashboard for {spec.name}"
        queries = " ".join(expr for _, expr in _prometheus_targets(board))
        assert f'service="{spec.name}"' in queries
        for metric in ("http_requests_total", 'status=~"5.."', "http_request_duration_seconds_bucket"):
            assert metric in queries, f"{spec.name}: {metric}"


def test_the_gateway_and_event_bus_dashboards_show_what_operators_need() -> None:
    by_uid = {board["uid"]: board for board in _dashboards().values()}
    gateway = " ".join(expr for _, expr in _prometheus_targets(by_uid["bizosaas-gateway"]))
    for needed in ("http_requests_total", "histogram_quantile(0.99", 'status="429"', "gateway_breaker_state"):
        assert needed in gateway, needed
    events = " ".join(expr for _, expr in _prometheus_targets(by_uid["bizosaas-events"]))
    for needed in ("events_published_total", "events_handled_total", "events_pending", "outbox_unpublished"):
        assert needed in events, needed
    assert "events_dead_total" in events


def test_grafana_provisions_prometheus_loki_and_the_dashboards() -> None:
    sources = {source["type"]: source for source in _load_yaml(DATASOURCES)["datasources"]}
    assert sources["prometheus"]["url"] == "http://prometheus:9090"
    assert sources["prometheus"]["isDefault"] is True
    assert sources["loki"]["url"] == f"http://loki:{_load_yaml(LOKI)['server']['http_listen_port']}"
    [provider] = _load_yaml(PROVIDERS)["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


# --- Loki and Promtail -------------------------------------------------------------------------


def test_promtail_ships_docker_logs_to_loki_and_parses_the_services_json() -> None:
    loki, promtail = _load_yaml(LOKI), _load_yaml(PROMTAIL)
    [client] = promtail["clients"]
    assert client["url"] == f"http://loki:{loki['server']['http_listen_port']}/loki/api/v1/push"
    [job] = promtail["scrape_configs"]
    assert job["docker_sd_configs"][0]["host"] == "unix:///var/run/docker.sock"
    stages = {name: config for stage in job["pipeline_stages"] for name, config in stage.items()}
    # The fields a service's log line really has (shared/observability.py).
    line = json.loads(JsonFormatter("analytics").format(logging.makeLogRecord({"msg": "hello"})))
    for field in ("level", "service", "request_id"):
        assert field in line
        assert stages["json"]["expressions"][field] == field
    assert set(stages["labels"]) == {"level", "service"}, "request_id as a label: a stream per request"
    assert set(stages["structured_metadata"]) == {"request_id"}
    # structured metadata needs Loki's tsdb store with schema v13
    assert loki["limits_config"]["allow_structured_metadata"] is True
    assert all(c["store"] == "tsdb" and c["schema"] == "v13" for c in loki["schema_config"]["configs"])
