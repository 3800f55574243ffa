"""The OpenTelemetry Collector configs at the repo root are wired the way the collector requires.

There is no otelcol binary here, so this checks what `otelcol validate` would and what the
pipelines promise: every component a pipeline names is defined (`type` or `type/name`) and is a
type the contrib distribution ships, memory_limiter comes first and batch last, and the GenAI spans
reach the routewatch collector on its default OTLP/gRPC port. The scale-out variant must shard by
a key that keeps each provider/model stream on one routewatch collector.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [ROOT / "otel-collector.yaml", ROOT / "otel-collector.scale-out.yaml"]
KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")

# Component types of otelcol-contrib these files may use (current names and their deprecated aliases).
CONTRIB_TYPES = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "batch", "filter", "transform", "groupbyattrs", "resource", "attributes"},
    "exporters": {"otlp", "otlp_grpc", "otlphttp", "otlp_http", "prometheus", "loadbalancing", "load_balancing",
                  "debug"},
    "connectors": set(),
    "extensions": {"health_check", "pprof", "zpages"},
}  # fmt: skip


def routewatch_grpc_port() -> int:
    """The routewatch collector's default OTLP/gRPC port, from its config module."""
    from routewatch.collector.config import DEFAULT_GRPC_PORT

    return DEFAULT_GRPC_PORT


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def exporters_of_type(cfg: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {cid: body or {} for cid, body in (cfg.get("exporters") or {}).items() if component_type(cid) in types}


def host_port(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host, int(port)


@pytest.fixture(params=CONFIGS, ids=lambda p: p.name)
def config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def test_every_component_a_pipeline_names_is_defined(config: dict[str, Any]) -> None:
    pipelines = config["service"]["pipelines"]
    assert pipelines, "no pipelines"
    for name, pipeline in pipelines.items():
        assert pipeline.get("receivers"), f"{name}: no receivers"
        assert pipeline.get("exporters"), f"{name}: no exporters"
        for kind in ("receivers", "processors", "exporters"):
            for cid in pipeline.get(kind) or []:
                assert cid in (config.get(kind) or {}), f"{name}: {kind[:-1]} {cid!r} is not defined"
    for cid in config["service"].get("extensions") or []:
        assert cid in (config.get("extensions") or {}), f"extension {cid!r} is not defined"


def test_every_defined_component_is_a_contrib_type_and_is_used(config: dict[str, Any]) -> None:
    used: set[str] = set(config["service"].get("extensions") or [])
    for pipeline in config["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            used.update(pipeline.get(kind) or [])
    for kind in KINDS:
        for cid in config.get(kind) or {}:
            assert component_type(cid) in CONTRIB_TYPES[kind], f"unknown {kind[:-1]} type in {cid!r}"
            assert cid in used, f"{kind[:-1]} {cid!r} is defined but no pipeline uses it"


def test_memory_limiter_first_and_batch_last_in_every_pipeline(config: dict[str, Any]) -> None:
    for name, pipeline in config["service"]["pipelines"].items():
        processors = [component_type(cid) for cid in pipeline.get("processors") or []]
        assert processors, f"{name}: no processors"
        assert processors[0] == "memory_limiter", f"{name}: memory_limiter must come first, got {processors}"
        assert processors[-1] == "batch", f"{name}: batch must be the last processor, got {processors}"
        assert processors.count("memory_limiter") == 1 and processors.count("batch") == 1, name


def test_otlp_receiver_listens_on_the_standard_grpc_and_http_ports(config: dict[str, Any]) -> None:
    protocols = config["receivers"]["otlp"]["protocols"]
    assert host_port(protocols["grpc"]["endpoint"]) == ("0.0.0.0", 4317)
    assert host_port(protocols["http"]["endpoint"]) == ("0.0.0.0", 4318)


def test_traces_go_to_jaeger_and_tempo_over_otlp(config: dict[str, Any]) -> None:
    otlp = exporters_of_type(config, "otlp", "otlp_grpc")
    endpoints = {host_port(body["endpoint"]) for body in otlp.values()}
    assert ("jaeger", 4317) in endpoints
    assert ("tempo", 4317) in endpoints
    trace_exporters = {cid for name, p in config["service"]["pipelines"].items() if name.split("/")[0] == "traces"
                       for cid in p["exporters"]}  # fmt: skip
    for cid, body in otlp.items():
        if host_port(body["endpoint"])[0] in {"jaeger", "tempo"}:
            assert cid in trace_exporters


def test_metrics_pipeline_feeds_the_prometheus_exporter_with_resource_labels(config: dict[str, Any]) -> None:
    prom = exporters_of_type(config, "prometheus")
    assert len(prom) == 1
    ((cid, body),) = prom.items()
    assert body["resource_to_telemetry_conversion"]["enabled"] is True
    assert body.get("add_metric_suffixes", True) is True, "dashboards rely on the unit and _total suffixes"
    metrics = [p for name, p in config["service"]["pipelines"].items() if name.split("/")[0] == "metrics"]
    assert any(cid in p["exporters"] for p in metrics)


def test_genai_spans_reach_the_routewatch_collector_on_its_default_grpc_port() -> None:
    cfg = load(ROOT / "otel-collector.yaml")
    port = routewatch_grpc_port()
    routewatch = {cid: body for cid, body in exporters_of_type(cfg, "otlp", "otlp_grpc").items()
                  if host_port(body["endpoint"])[0] == "routewatch-collector"}  # fmt: skip
    assert len(routewatch) == 1
    ((cid, body),) = routewatch.items()
    assert host_port(body["endpoint"]) == ("routewatch-collector", port)
    pipelines = [p for p in cfg["service"]["pipelines"].values() if cid in p["exporters"]]
    assert len(pipelines) == 1 and "otlp" in pipelines[0]["receivers"]


def test_scale_out_shards_genai_spans_by_provider_and_model_over_routewatch_collectors() -> None:
    cfg = load(ROOT / "otel-collector.scale-out.yaml")
    balancers = exporters_of_type(cfg, "load_balancing", "loadbalancing")
    assert len(balancers) == 1
    ((cid, lb),) = balancers.items()
    assert lb["routing_key"] == "attributes"
    keys = lb["routing_attributes"]
    assert "gen_ai.provider.name" in keys and "gen_ai.request.model" in keys
    assert "endpoint" not in (lb["protocol"]["otlp"] or {}), "the balancer sets each backend's endpoint itself"
    resolver = lb["resolver"]
    assert len(resolver) == 1, "one resolver"
    (kind, settings), port = next(iter(resolver.items())), routewatch_grpc_port()
    if kind == "dns":
        assert int(settings["port"]) == port
    elif kind == "k8s":
        assert settings["ports"] == [port]
    else:
        assert kind == "static" and all(host_port(h)[1] == port for h in settings["hostnames"])

    (pipeline,) = [p for p in cfg["service"]["pipelines"].values() if cid in p["exporters"]]
    assert pipeline["exporters"] == [cid], "the sharded pipeline only feeds routewatch collectors"
    processors = pipeline["processors"]
    # The balancer reads the key from the first span of each (resource, scope, trace) batch, unless
    # the resource carries it: a groupbyattrs on the same keys must run before it, so a trace that
    # called two providers still sends each provider's spans to that provider's owner.
    grouping = [cid for cid in processors if component_type(cid) == "groupbyattrs"]
    assert len(grouping) == 1
    assert list(cfg["processors"][grouping[0]]["keys"]) == list(keys)
    # ...and the span keeps the attributes the routewatch collector reads.
    restore = [cid for cid in processors if component_type(cid) == "transform"]
    assert len(restore) == 1 and processors.index(restore[0]) > processors.index(grouping[0])
    blocks = cfg["processors"][restore[0]]["trace_statements"]
    statements = "\n".join(s for block in blocks for s in block["statements"])
    for key in keys:
        assert f'set(attributes["{key}"], resource.attributes["{key}"])' in statements


def test_the_single_collector_and_the_scale_out_tier_share_everything_but_the_routewatch_fan_out() -> None:
    single, scaled = load(ROOT / "otel-collector.yaml"), load(ROOT / "otel-collector.scale-out.yaml")
    for name in ("traces", "metrics"):
        assert single["service"]["pipelines"][name] == scaled["service"]["pipelines"][name]
    assert single["receivers"] == scaled["receivers"]
    assert single["exporters"]["prometheus"] == scaled["exporters"]["prometheus"]


def test_the_genai_filter_keeps_every_span_the_routewatch_collector_reads(config: dict[str, Any]) -> None:
    """The filter drops a span only when it has none of the attributes routewatch's converter
    recognises GenAI spans by, so nothing the collector would read is lost on the way."""
    from routewatch.otlp.convert import GENAI_MARKERS

    (condition,) = config["processors"]["filter/genai"]["traces"]["span"]
    clauses = [clause.strip() for clause in condition.split(" and ")]
    keys = set()
    for clause in clauses:
        match = re.fullmatch(r'attributes\["([^"]+)"\] == nil', clause)
        assert match, f"expected only `attributes[...] == nil` clauses joined by `and`, got {clause!r}"
        keys.add(match.group(1))
    assert keys == set(GENAI_MARKERS)
