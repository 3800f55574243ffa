"""The Grafana dashboards are generated from code, parse as PromQL, and only ask for series routewatch
really emits, with labels those series really carry.

"Really emits" is derived, not listed (see promnames.py): the OTel instruments the library creates,
translated to Prometheus names the way the OpenTelemetry Collector's prometheus exporter does, plus a
real /metrics exposition of the routewatch collector.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import promnames
import promql
import pytest

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "dashboards" / "grafana"
DASHBOARDS = sorted(GRAFANA.glob("*.json"))


def all_expressions() -> list[tuple[str, str, str]]:
    models = [(path.name, json.loads(path.read_text())) for path in DASHBOARDS]
    return [(name, where, expr) for name, model in models for where, expr in promql.dashboard_expressions(model)]


def test_the_committed_json_is_what_the_generator_writes() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "dashboards" / "generate.py"), "--check"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {p.name for p in DASHBOARDS} == {"routewatch-providers.json", "routewatch-collector.json"}


def test_check_mode_notices_a_stale_dashboard(tmp_path: Path) -> None:
    script = str(ROOT / "dashboards" / "generate.py")
    subprocess.run([sys.executable, script, "--out", str(tmp_path)], check=True, capture_output=True, timeout=120)
    target = tmp_path / "routewatch-providers.json"
    target.write_text(target.read_text().replace("Request rate", "Requests"))
    done = subprocess.run([sys.executable, script, "--check", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1 and "routewatch-providers.json" in done.stderr


@pytest.mark.requires_tool("promtool")
def test_every_expression_parses() -> None:
    exprs = [promql.grafana_to_promql(expr) for _, _, expr in all_expressions()]
    assert len(exprs) > 30
    assert promql.promtool_parse_errors(exprs) is None, promql.promtool_parse_errors(exprs)


@pytest.mark.requires_tool("promtool")
def test_the_parse_check_rejects_broken_promql() -> None:
    assert promql.promtool_parse_errors(["sum by (provider (rate(x[5m]))"]) is not None


def test_every_metric_and_label_a_dashboard_uses_is_emitted_by_the_code(emitted: dict[str, set[str] | None]) -> None:
    problems = [f"{name} {where}: {problem}" for name, where, expr in all_expressions()
                for problem in promql.unknown_references(promql.grafana_to_promql(expr), emitted)]  # fmt: skip
    assert not problems, "\n".join(problems)


def test_a_name_the_code_does_not_emit_is_caught(emitted: dict[str, set[str] | None]) -> None:
    assert promql.unknown_references("rate(gen_ai_client_operation_duration_seconds_count[5m])", emitted) == []
    # The untranslated OTel name, a missing unit suffix, a counter without _total, and the gauge of
    # unit "1" without the _ratio the exporter appends: all wrong.
    for wrong in ("gen_ai_client_operation_duration_count", "gen_ai_client_operation_duration_bucket",
                  "routewatch_client_cost_total", "routewatch_router_target_state",
                  "routewatch_collector_spans_dropped"):  # fmt: skip
        assert promql.unknown_references(f"rate({wrong}[5m])", emitted) == [f"metric {wrong}"]
    # Right metric, wrong label family: the collector says provider, the SDK gen_ai_provider_name.
    assert promql.unknown_references('routewatch_stream_calls_total{gen_ai_provider_name="x"}', emitted) == [
        "label gen_ai_provider_name on routewatch_stream_calls_total"
    ]
    assert promql.unknown_references("sum by (provider) (rate(gen_ai_client_token_usage_sum[5m]))", emitted) == [
        "grouping label provider"
    ]


def test_the_derived_names_cover_every_instrument_the_code_creates() -> None:
    sites = promnames.create_call_names()
    text_sites = sorted(promnames.create_call_sites())
    assert sorted(sites) == text_sites, "the AST and the text search find the same call sites"
    unresolved = [site for site, name in sites.items() if name is None]
    assert not unresolved, f"instrument names the guard cannot read (use a string or a constant): {unresolved}"
    captured = {inst.name for inst in promnames.in_process_instruments()}
    missing = {f"{name} ({site})" for site, name in sites.items() if name not in captured}
    assert not missing, f"created in src/ but not captured (build their class in promnames._builders): {missing}"
    assert captured <= set(sites.values()), f"captured but created nowhere in src/: {captured - set(sites.values())}"


def test_name_translation_follows_the_collector_exporter() -> None:
    name = promnames.prometheus_name
    assert name("gen_ai.client.operation.duration", "s", "histogram") == "gen_ai_client_operation_duration_seconds"
    assert name("gen_ai.client.token.usage", "{token}", "histogram") == "gen_ai_client_token_usage"
    assert name("routewatch.client.cost", "USD", "counter") == "routewatch_client_cost_USD_total"
    assert name("http.server.request.size", "By", "histogram") == "http_server_request_size_bytes"
    assert name("system.network.io", "By/s", "counter") == "system_network_io_bytes_per_second_total"
    assert name("requests.total", "1", "counter") == "requests_total"
    assert name("cpu.utilization", "1", "observable_gauge") == "cpu_utilization_ratio"
    assert name("queue.size", "{item}", "up_down_counter") == "queue_size"
    assert name("latency.seconds", "s", "gauge") == "latency_seconds"
    assert name("2xx.responses", "", "counter") == "_2xx_responses_total"


def test_dashboards_are_wired_to_the_datasource_variable_and_their_own_variables() -> None:
    for path in DASHBOARDS:
        model = json.loads(path.read_text())
        defined = {var["name"] for var in model["templating"]["list"]}
        assert "datasource" in defined
        ids = [panel["id"] for panel in promql.panels(model)]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in promql.panels(model):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
            assert panel.get("description"), f"{panel['title']}: say what the panel shows"
        for where, expr in promql.dashboard_expressions(model):
            missing = promql.variables_in(expr) - defined
            assert not missing, f"{path.name} {where}: undefined variables {missing}"


def test_the_provider_dashboard_covers_what_an_operator_asks() -> None:
    model = json.loads((GRAFANA / "routewatch-providers.json").read_text())
    exprs = "\n".join(expr for _, expr in promql.dashboard_expressions(model))
    for needle in ("histogram_quantile(0.5,", "histogram_quantile(0.95,", "histogram_quantile(0.99,",
                   "gen_ai_client_operation_time_to_first_chunk_seconds_bucket", "gen_ai_client_token_usage_sum",
                   "routewatch_client_cost_USD_total", "routewatch_tag_tenant", 'error_type!=""',
                   "routewatch_router_target_state_ratio", "routewatch_drift_alarm_active",
                   'signal=~"refusal|truncated|empty|schema_invalid"'):  # fmt: skip
        assert needle in exprs, needle
    assert {v["name"] for v in model["templating"]["list"]} >= {"datasource", "service", "provider", "model", "tenant"}
    assert any("routewatch_drift_alarm_active" in a.get("expr", "") for a in model["annotations"]["list"])
    collector = json.loads((GRAFANA / "routewatch-collector.json").read_text())
    exprs = "\n".join(expr for _, expr in promql.dashboard_expressions(collector))
    for needle in ("routewatch_collector_spans_received_total", "routewatch_collector_spans_dropped_total",
                   "routewatch_collector_requests_rejected_total", "routewatch_collector_queue_depth"):  # fmt: skip
        assert needle in exprs, needle
