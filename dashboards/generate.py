"""Generate routewatch's Grafana dashboards (JSON) from code with grafana-foundation-sdk.

    python dashboards/generate.py          # (re)write dashboards/grafana/*.json
    python dashboards/generate.py --check  # exit 1 if a committed JSON file is missing or stale

Output is deterministic (sorted keys, fixed panel ids and positions), so a diff of the JSON is a
diff of the dashboard. Metric names are the ones Prometheus stores:

- in-process metrics (routewatch.metrics, the router's health gauges) as the OpenTelemetry
  Collector's prometheus exporter translates them (dots to underscores, unit suffix, `_total` on
  counters, `_ratio` on gauges of unit "1"), with attributes as labels (gen_ai.provider.name ->
  gen_ai_provider_name, routewatch.tag.tenant -> routewatch_tag_tenant);
- the routewatch collector's own /metrics (routewatch_collector_*, routewatch_drift_*,
  routewatch_stream_*, routewatch_fleet_*), labelled provider/model/operation.

tests/dashboards/test_dashboards.py checks every expression parses and names only metrics the code
emits.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

OUT = Path(__file__).resolve().parent / "grafana"
DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"

# --- metric names (Prometheus side) -------------------------------------------------------------------
DURATION = "gen_ai_client_operation_duration_seconds"
TTFC = "gen_ai_client_operation_time_to_first_chunk_seconds"
TPOC = "gen_ai_client_operation_time_per_output_chunk_seconds"
TOKENS = "gen_ai_client_token_usage"
COST = "routewatch_client_cost_USD_total"
UNPRICED = "routewatch_client_unpriced_calls_total"
PARSE_ERRORS = "routewatch_instrumentation_errors_total"
BUS_DROPPED = "routewatch_listener_dropped_total"
ROUTER_STATE = "routewatch_router_target_state_ratio"
ROUTER_WEIGHT = "routewatch_router_target_weight_ratio"

# Provider error types that mean "rate limited" (HTTP status when the body names none).
RATE_LIMITED = "429|rate_limit_error|rate_limit_exceeded|RESOURCE_EXHAUSTED|too_many_requests"
QUALITY_SIGNALS = "refusal|truncated|empty|schema_invalid"
STATES = ("healthy", "ramping", "degraded", "probing", "ejected")  # by severity
STATE_COLORS = {"healthy": "green", "degraded": "yellow", "ramping": "blue", "probing": "orange", "ejected": "red"}

# Selectors bound to the template variables. In-process metrics carry the GenAI attribute names;
# the collector's metrics carry short labels.
# service_name: the app (a resource attribute the OTel Collector turns into a label).
SEL_NO_TENANT = 'service_name=~"$service", gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"'
SEL = SEL_NO_TENANT + ', routewatch_tag_tenant=~"$tenant"'
CSEL = 'provider=~"$provider", model=~"$model"'
BY_PM = "gen_ai_provider_name, gen_ai_request_model"
PM_LEGEND = "{{gen_ai_provider_name}} / {{gen_ai_request_model}}"


# --- small builders ------------------------------------------------------------------------------------
def q(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> prom.Dataquery:
    query = prom.Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    return query.instant() if instant else query.range()


def queries(*items: tuple[str, str]) -> list[prom.Dataquery]:
    return [q(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(items)]


def ts(title: str, description: str, targets: Sequence[prom.Dataquery], unit: str, *, w: int = 12, h: int = 8,
       stack: bool = False, min_val: float | None = 0) -> timeseries.Panel:  # fmt: skip
    panel = (
        timeseries.Panel().title(title).description(description).datasource(DS).unit(unit).span(w).height(h)
        .line_width(1).fill_opacity(10).targets(list(targets))
        .legend(cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.LIST).placement(cm.LegendPlacement.BOTTOM)
                .show_legend(True))
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
    )  # fmt: skip
    if min_val is not None:
        panel = panel.min(min_val)
    if stack:
        panel = panel.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    return panel


def quantiles(metric: str, selector: str, by: str, legend: str) -> list[prom.Dataquery]:
    return queries(*[
        (f"histogram_quantile({p}, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[{RATE}])))",
         f"p{round(p * 100)} {legend}")
        for p in (0.5, 0.95, 0.99)
    ])  # fmt: skip


def state_code(metric: str, label: str, selector: str) -> str:
    """One number per target, its worst current state (0 healthy .. 4 ejected) across every app that
    reports it; the gauges are 1 for the current state and 0 for the others."""
    parts = [f'{metric}{{{selector}, {state_label(metric)}="{s}"}} * {i}' for i, s in enumerate(STATES) if i]
    return f"max by ({label}) (\n  " + "\n  or ".join(parts) + "\n)"


def state_label(metric: str) -> str:
    return "routewatch_router_state" if metric == ROUTER_STATE else "state"


def state_timeline(title: str, description: str, expr: str, legend: str, *, w: int = 12) -> statetimeline.Panel:
    mapping = dm.ValueMap(options={
        str(i): dm.ValueMappingResult(text=s, color=STATE_COLORS[s], index=i) for i, s in enumerate(STATES)
    })  # fmt: skip
    return (
        statetimeline.Panel().title(title).description(description).datasource(DS).span(w).height(8)
        .mappings([mapping]).targets([q(expr, legend)])
        .thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE)
                    .steps([dm.Threshold(value=None, color="green")]))
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
    )  # fmt: skip


def routewatch_links() -> db.DashboardLink:
    """A link to the other routewatch dashboards, keeping the time range."""
    return (db.DashboardLink("routewatch").type(dm.DashboardLinkType.DASHBOARDS).tags(["routewatch"])
            .as_dropdown(False).include_vars(False).keep_time(True).target_blank(False).icon("dashboard"))  # fmt: skip


def datasource_variable() -> db.DatasourceVariable:
    return db.DatasourceVariable("datasource").label("Data source").type("prometheus")


def label_variable(name: str, label: str, query: str, *, title: str) -> db.QueryVariable:
    return (
        db.QueryVariable(name).label(title).datasource(DS)
        .query({"query": f"label_values({query}, {label})", "refId": f"var-{name}"})
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True).include_all(True).all_value(".*")
        .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )  # fmt: skip


def annotation(name: str, expr: str, color: str, title: str, tags: str) -> dict[str, Any]:
    """A Prometheus annotation: a region for as long as `expr` returns a series."""
    return {
        "name": name, "datasource": {"type": "prometheus", "uid": "${datasource}"}, "enable": True, "hide": False,
        "iconColor": color, "expr": expr, "step": "30s", "titleFormat": title, "tagKeys": tags,
        "textFormat": "", "useValueForTime": False,
    }  # fmt: skip


def render(builder: db.Dashboard, annotations: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    model: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    next_id = 1
    for panel in model.get("panels", []):
        for each in [panel, *panel.get("panels", [])]:  # a collapsed row holds its panels
            each["id"] = next_id
            next_id += 1
            if each.get("options") is None and each.get("type") != "row":
                each["options"] = {}
    # The SDK's annotation model has no titleFormat/tagKeys; Grafana's Prometheus annotations need them.
    model.setdefault("annotations", {}).setdefault("list", [])
    model["annotations"]["list"] = [
        {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
         "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"},
        *annotations,
    ]  # fmt: skip
    return model


# --- provider overview ---------------------------------------------------------------------------------
def providers() -> dict[str, Any]:
    calls = f"{DURATION}_count"
    rate_all = f"sum by ({BY_PM}) (rate({calls}{{{SEL}}}[{RATE}]))"
    dash = (
        db.Dashboard("routewatch · LLM providers").uid("routewatch-providers")
        .description("Traffic, latency, tokens, cost, errors, quality and drift per GenAI provider and model.")
        .tags(["routewatch", "genai", "llm"]).editable().time("now-6h", "now").refresh("30s").timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR).link(routewatch_links())
        .with_variable(datasource_variable())
        .with_variable(label_variable("service", "service_name", calls, title="App"))
        .with_variable(label_variable("provider", "gen_ai_provider_name", calls, title="Provider"))
        .with_variable(label_variable("model", "gen_ai_request_model",
                                      f'{calls}{{gen_ai_provider_name=~"$provider"}}', title="Model"))
        .with_variable(label_variable("tenant", "routewatch_tag_tenant", COST, title="Tenant"))
    )  # fmt: skip

    dash = dash.with_row(db.Row("Traffic and errors"))
    dash = dash.with_panel(ts("Request rate", "Finished provider calls per second, by provider and model.",
                              queries((rate_all, PM_LEGEND)), "reqps", stack=True))  # fmt: skip
    dash = dash.with_panel(ts(
        "Error ratio", "Share of calls that failed (error.type set: HTTP status or the provider's error code); "
        "0 when none did.",
        queries((f'(sum by ({BY_PM}) (rate({calls}{{{SEL}, error_type!=""}}[{RATE}])) or 0 * {rate_all})'
                 f" / {rate_all}", PM_LEGEND)),
        "percentunit",
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "Rate-limited ratio", "Share of calls refused for rate limits (429 and the providers' rate-limit codes).",
        queries((f'(sum by ({BY_PM}) (rate({calls}{{{SEL}, error_type=~"{RATE_LIMITED}"}}[{RATE}]))'
                 f" or 0 * {rate_all}) / {rate_all}", PM_LEGEND)),
        "percentunit",
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "Errors by type", "Failed calls per second by provider and error.type.",
        queries((f'sum by (gen_ai_provider_name, error_type) (rate({calls}{{{SEL}, error_type!=""}}[{RATE}]))',
                 "{{gen_ai_provider_name}} {{error_type}}")),
        "reqps", stack=True,
    ))  # fmt: skip

    dash = dash.with_row(db.Row("Latency"))
    dash = dash.with_panel(ts("Operation duration", "p50 / p95 / p99 of the whole call, request to last byte.",
                              quantiles(DURATION, SEL, BY_PM, PM_LEGEND), "s"))  # fmt: skip
    dash = dash.with_panel(ts("Time to first chunk", "p50 / p95 / p99 of streamed calls' time to first chunk.",
                              quantiles(TTFC, SEL, BY_PM, PM_LEGEND), "s"))  # fmt: skip
    dash = dash.with_panel(ts(
        "Time per output chunk", "p50 / p95 / p99 of the interval between output chunks of streamed calls.",
        quantiles(TPOC, SEL, BY_PM, PM_LEGEND), "s", w=24,
    ))  # fmt: skip

    dash = dash.with_row(db.Row("Tokens and cost"))
    dash = dash.with_panel(ts(
        "Tokens per second", "Input and output tokens per second (calls with known usage only).",
        queries((f"sum by (gen_ai_provider_name, gen_ai_token_type) (rate({TOKENS}_sum{{{SEL}}}[{RATE}]))",
                 "{{gen_ai_provider_name}} {{gen_ai_token_type}}")),
        "short", stack=True,
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "Calls without a price", "Successful calls whose cost is unknown (unpriced model or unknown usage): "
        "not free, just not counted below.",
        queries((f"sum by ({BY_PM}) (rate({UNPRICED}{{{SEL}}}[{RATE}]))", PM_LEGEND)), "reqps",
    ))  # fmt: skip
    for by, legend, w in (("gen_ai_provider_name", "{{gen_ai_provider_name}}", 8),
                          (BY_PM, PM_LEGEND, 8),
                          ("routewatch_tag_tenant", "{{routewatch_tag_tenant}}", 8)):  # fmt: skip
        title = {"gen_ai_provider_name": "provider", BY_PM: "model", "routewatch_tag_tenant": "tenant"}[by]
        dash = dash.with_panel(ts(
            f"Cost per hour by {title}",
            f"USD per hour at the current rate, by {title}, from routewatch's price table.",
            queries((f"sum by ({by}) (rate({COST}{{{SEL}}}[{RATE}])) * 3600", legend)), "currencyUSD", w=w,
            stack=True,
        ))  # fmt: skip

    dash = dash.with_row(db.Row("Quality and drift (routewatch collector)"))
    dash = dash.with_panel(ts(
        "Quality verdict rates", "Share of recent successful generations judged refused, truncated, empty or "
        "schema-invalid (solid), against the detector's baseline (dashed).",
        queries(
            (f'routewatch_stream_current{{{CSEL}, signal=~"{QUALITY_SIGNALS}", stat="mean"}}',
             "{{provider}} / {{model}} {{signal}}"),
            (f'routewatch_stream_baseline{{{CSEL}, signal=~"{QUALITY_SIGNALS}", stat="mean"}}',
             "baseline {{provider}} / {{model}} {{signal}}"),
        ),
        "percentunit",
    ).override_by_query("B", [dm.DynamicConfigValue(id_val="custom.lineStyle",
                                                    value={"fill": "dash", "dash": [10, 10]})]))  # fmt: skip
    dash = dash.with_panel(ts(
        "Open drift alarms", "Drift alarms open now, by stream and signal (1 while open).",
        queries((f"routewatch_drift_alarm_active{{{CSEL}}} > 0", "{{provider}} / {{model}} {{signal}} ({{severity}})")),
        "short",
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "Drift alarms raised", "Alarms, recoveries and change events raised per interval.",
        # signal!="": the collector's series only; apps export a counter of the same name through the
        # OTel Collector, labelled routewatch_alarm_signal, which an "All" selection would sum in.
        queries((f'sum by (provider, model, signal, kind) '
                 f'(increase(routewatch_drift_alarms_total{{{CSEL}, signal!=""}}[{RATE}]))',
                 "{{provider}} / {{model}} {{signal}} {{kind}}")),
        "short", stack=True,
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "p95 latency: recent vs baseline", "The collector's recent p95 per stream against its detector baseline.",
        queries(
            (f'routewatch_stream_current{{{CSEL}, signal="latency", stat="p95"}}', "{{provider}} / {{model}}"),
            (f'routewatch_stream_baseline{{{CSEL}, signal="latency", stat="p95"}}',
             "baseline {{provider}} / {{model}}"),
        ),
        "s",
    ).override_by_query("B", [dm.DynamicConfigValue(id_val="custom.lineStyle",
                                                    value={"fill": "dash", "dash": [10, 10]})]))  # fmt: skip

    dash = dash.with_row(db.Row("Routing"))
    dash = dash.with_panel(state_timeline(
        "Router target states",
        "Each router target's health state as the apps' routers see it (the worst, when apps disagree).",
        state_code(ROUTER_STATE, "routewatch_router_target", SEL_NO_TENANT), "{{routewatch_router_target}}",
    ))  # fmt: skip
    dash = dash.with_panel(state_timeline(
        "Fleet verdict (routewatch collector)", "The collector's verdict per provider/model, shared by every router "
        "subscribed to its health feed.",
        state_code("routewatch_fleet_target_state", "provider, model", CSEL), "{{provider}} / {{model}}",
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "Router target weight", "Weight factor each target gets: 1 healthy, between 0 and 1 while degraded or "
        "ramping, 0 ejected or probing.",
        queries((f"min by (routewatch_router_target) ({ROUTER_WEIGHT}{{{SEL_NO_TENANT}}})",
                 "{{routewatch_router_target}}")),
        "percentunit", w=24,
    ))  # fmt: skip

    dash = dash.with_row(db.Row("Instrumentation health").collapsed(True)
        .with_panel(ts("Unparsed provider responses", "Responses routewatch could not parse, by provider and API.",
                       queries((f'sum by (gen_ai_provider_name, routewatch_api) '
                                f'(rate({PARSE_ERRORS}{{gen_ai_provider_name=~"$provider"}}[{RATE}]))',
                                "{{gen_ai_provider_name}} {{routewatch_api}}")), "reqps"))
        .with_panel(ts("Finished calls dropped", "Calls dropped because routewatch's signal-bus queue was full.",
                       queries((f"sum (rate({BUS_DROPPED}[{RATE}]))", "dropped")), "reqps")))  # fmt: skip

    return render(dash, [
        annotation("Drift alarms", f"routewatch_drift_alarm_active{{{CSEL}}} > 0", "red",
                   "Drift: {{provider}} / {{model}} {{signal}}", "provider,model,signal,severity"),
        annotation("Provider ejected", f'routewatch_fleet_target_state{{{CSEL}, state="ejected"}} == 1', "orange",
                   "Ejected: {{provider}} / {{model}}", "provider,model"),
    ])  # fmt: skip


# --- the routewatch collector ---------------------------------------------------------------------------
def collector() -> dict[str, Any]:
    sel = 'instance=~"$instance"'
    dash = (
        db.Dashboard("routewatch · collector").uid("routewatch-collector")
        .description("The routewatch collector: OTLP ingest, drops, queue, streams, alarms and fleet verdicts.")
        .tags(["routewatch", "collector"]).editable().time("now-3h", "now").refresh("30s").timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR).link(routewatch_links())
        .with_variable(datasource_variable())
        .with_variable(label_variable("instance", "instance", "routewatch_collector_queue_capacity",
                                      title="Collector"))
    )  # fmt: skip

    dash = dash.with_row(db.Row("Ingest"))
    dash = dash.with_panel(ts(
        "Spans received", "Spans in accepted OTLP requests per second, by protocol.",
        queries((f"sum by (protocol) (rate(routewatch_collector_spans_received_total{{{sel}}}[{RATE}]))",
                 "{{protocol}}")),
        "short", w=8, stack=True,
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "GenAI spans accepted vs skipped", "Accepted: turned into call records. Skipped: not GenAI calls.",
        queries(
            (f"sum (rate(routewatch_collector_spans_accepted_total{{{sel}}}[{RATE}]))", "accepted"),
            (f"sum (rate(routewatch_collector_spans_skipped_total{{{sel}}}[{RATE}]))", "skipped"),
        ),
        "short", w=8,
    ))  # fmt: skip
    dash = dash.with_panel(stat.Panel().title("Dropped in the last hour").datasource(DS).span(8).height(8)
        .description("GenAI spans lost before the drift monitor (queue full, conversion errors); should be 0.")
        .targets([q(f"sum (increase(routewatch_collector_spans_dropped_total{{{sel}}}[1h]))", "dropped",
                    instant=True)])
        .unit("short").thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps([
            dm.Threshold(value=None, color="green"), dm.Threshold(value=1, color="red")])))  # fmt: skip
    dash = dash.with_panel(ts(
        "Spans dropped", "GenAI spans dropped per second, by reason.",
        queries((f"sum by (reason) (rate(routewatch_collector_spans_dropped_total{{{sel}}}[{RATE}]))", "{{reason}}")),
        "short",
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "Requests rejected", "OTLP requests refused per second, by protocol and reason "
        "(malformed, unauthorized, overloaded).",
        queries((f"sum by (protocol, reason) (rate(routewatch_collector_requests_rejected_total{{{sel}}}[{RATE}]))",
                 "{{protocol}} {{reason}}")),
        "reqps",
    ))  # fmt: skip

    dash = dash.with_row(db.Row("Queue and streams"))
    dash = dash.with_panel(ts(
        "Ingest queue", "Call records waiting for the drift monitor, and the queue's size.",
        queries(
            (f"sum by (instance) (routewatch_collector_queue_depth{{{sel}}})", "depth {{instance}}"),
            (f"sum by (instance) (routewatch_collector_queue_capacity{{{sel}}})", "capacity {{instance}}"),
        ),
        "short",
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "Queue fill", "Depth over capacity: near 1 the collector is about to drop spans.",
        queries((f"routewatch_collector_queue_depth{{{sel}}} / routewatch_collector_queue_capacity{{{sel}}}",
                 "{{instance}}")),
        "percentunit",
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "Calls per stream", "Calls per second the collector saw, by provider and model.",
        queries((f"sum by (provider, model) (rate(routewatch_stream_calls_total{{{sel}}}[{RATE}]))",
                 "{{provider}} / {{model}}")),
        "reqps", stack=True,
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "Streams left out of /metrics", "Streams beyond the per-stream series cap (they are still watched).",
        queries((f"max (routewatch_collector_streams_not_exported{{{sel}}})", "streams")), "short",
    ))  # fmt: skip

    dash = dash.with_row(db.Row("Alarms and verdicts"))
    dash = dash.with_panel(stat.Panel().title("Open drift alarms").datasource(DS).span(6).height(8)
        .description("Stream/signal pairs with an alarm open now.")
        .targets([q(f"sum (routewatch_drift_alarm_active{{{sel}}})", "open", instant=True)])
        .unit("short").thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps([
            dm.Threshold(value=None, color="green"), dm.Threshold(value=1, color="red")])))  # fmt: skip
    dash = dash.with_panel(table.Panel().title("Open alarms").datasource(DS).span(18).height(8)
        .description("Which streams and signals are alarmed, and how severe.")
        .targets([q(f"routewatch_drift_alarm_active{{{sel}}} > 0", "", instant=True)
                  .format(pm.PromQueryFormat.TABLE)]))  # fmt: skip
    dash = dash.with_panel(state_timeline(
        "Fleet verdict", "The collector's verdict per provider/model.",
        state_code("routewatch_fleet_target_state", "provider, model", sel), "{{provider}} / {{model}}", w=24,
    ))  # fmt: skip

    dash = dash.with_row(db.Row("Alarm delivery"))
    dash = dash.with_panel(ts(
        "Alarm deliveries", "Alarms posted to Alertmanager and webhooks per second, by sink and result "
        "(ok, failed after retries, dropped from a full queue).",
        queries((f"sum by (sink, result) (rate(routewatch_collector_alert_deliveries_total{{{sel}}}[{RATE}]))",
                 "{{sink}} {{result}}")),
        "short", stack=True,
    ))  # fmt: skip
    dash = dash.with_panel(ts(
        "Health-feed subscribers", "Routers connected to /api/health/stream: the ones a verdict reaches at once.",
        queries((f"sum by (instance) (routewatch_collector_feed_subscribers{{{sel}}})", "{{instance}}")), "short",
    ))  # fmt: skip

    return render(dash, [
        annotation("Drift alarms", f"routewatch_drift_alarm_active{{{sel}}} > 0", "red",
                   "Drift: {{provider}} / {{model}} {{signal}}", "provider,model,signal,severity"),
    ])  # fmt: skip


DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "routewatch-providers.json": providers,
    "routewatch-collector.json": collector,
}


def dump(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON differs from the code")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default: dashboards/grafana)")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = args.out / name
        text = dump(build())
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        for path in stale:
            print(f"stale: {path} (run: python dashboards/generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
