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
    assert keys == [SHARD_KEY], "one normalised key: separate provider attributes would split a stream"
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
    # The key is written on the span by a transform, after the GenAI filter...
    (normalise,) = [cid for cid in processors if component_type(cid) == "transform"]
    assert processors.index("filter/genai") < processors.index(normalise)
    assert f'set(attributes["{SHARD_KEY}"]' in "\n".join(shard_statements(cfg))
    # ...and moved to the resource: the balancer reads the key from the first span of each (resource,
    # scope, trace) batch unless the resource carries it, so a trace that called two providers still
    # sends each provider's spans to that provider's owner.
    (grouping,) = [cid for cid in processors if component_type(cid) == "groupbyattrs"]
    assert processors.index(normalise) < processors.index(grouping)
    assert list(cfg["processors"][grouping]["keys"]) == keys


# --- the shard key's OTTL, run here -------------------------------------------------------------------
SHARD_KEY = "routewatch.shard_key"
_ATTR = r'attributes\["([^"]+)"\]'


def shard_statements(cfg: dict[str, Any]) -> list[str]:
    (block,) = cfg["processors"]["transform/shard_key"]["trace_statements"]
    assert block["context"] == "span"
    return list(block["statements"])


def _value(expr: str, attrs: dict[str, Any]) -> Any:
    """The OTTL expressions the statements use: an attribute, a string, ConvertCase(.., "lower"), Concat."""
    expr = expr.strip()
    if m := re.fullmatch(_ATTR, expr):
        return attrs.get(m.group(1))
    if m := re.fullmatch(r'"([^"]*)"', expr):
        return m.group(1)
    if m := re.fullmatch(r'ConvertCase\((.+), "lower"\)', expr):
        value = _value(m.group(1), attrs)
        if not isinstance(value, str):
            raise TypeError("ConvertCase of a non-string")  # OTTL errors; error_mode ignore skips the statement
        return value.lower()
    if m := re.fullmatch(r'Concat\(\[(.+)\], "([^"]*)"\)', expr):
        return m.group(2).join(str(_value(part, attrs)) for part in m.group(1).split(", "))
    raise AssertionError(f"the test does not know this OTTL expression: {expr}")


def _condition(cond: str, attrs: dict[str, Any]) -> bool:
    if " or " in cond:
        return any(_condition(part, attrs) for part in cond.split(" or "))
    if " and " in cond:
        return all(_condition(part, attrs) for part in cond.split(" and "))
    cond = cond.strip()
    if cond.startswith("not "):
        return not _condition(cond[4:], attrs)
    if m := re.fullmatch(r"IsString\((.+)\)", cond):
        return isinstance(_value(m.group(1), attrs), str)
    if m := re.fullmatch(r"(.+?) (==|!=) (nil|\"[^\"]*\")", cond):
        left = _value(m.group(1), attrs)
        right = None if m.group(3) == "nil" else m.group(3)[1:-1]
        return (left == right) if m.group(2) == "==" else (left != right)
    raise AssertionError(f"the test does not know this OTTL condition: {cond}")


def run_ottl(statements: list[str], attrs: dict[str, Any]) -> dict[str, Any]:
    """The span attributes after the statements (the subset of OTTL the shard key uses)."""
    attrs = dict(attrs)
    for statement in statements:
        statement, _, where = statement.partition(" where ")
        if m := re.fullmatch(r'delete_key\(attributes, "([^"]+)"\)', statement):
            attrs.pop(m.group(1), None)
            continue
        m = re.fullmatch(r"set\(" + _ATTR + r", (.+)\)", statement)
        assert m, f"the test does not know this OTTL statement: {statement}"
        try:
            if where and not _condition(where, attrs):
                continue
            attrs[m.group(1)] = _value(m.group(2), attrs)
        except TypeError:
            continue
    return attrs


def _converter_key(attrs: dict[str, Any]) -> str:
    """provider/model of the stream the routewatch collector puts a span with these attributes in."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from routewatch.drift.monitor import DriftMonitor
    from routewatch.otlp.wire import records_from_bytes

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="chat", trace_id=b"t" * 16, span_id=b"s" * 8)
    for key, value in {"gen_ai.operation.name": "chat", **attrs}.items():
        kv = span.attributes.add(key=key)
        if isinstance(value, str):
            kv.value.string_value = value
        else:
            kv.value.int_value = value
    (record,) = records_from_bytes(request.SerializeToString()).records
    key = DriftMonitor(sinks=[]).key_for(record)
    return f"{key.provider}/{key.model}"


def _alias_cases() -> list[dict[str, Any]]:
    from routewatch.otlp.builder import PROVIDER_ALIASES

    names = sorted({*PROVIDER_ALIASES, *PROVIDER_ALIASES.values(), "openai", "anthropic", "cohere", "ollama"})
    cases: list[dict[str, Any]] = []
    for name in names:
        for spelling in (name, name.upper(), name.title()):
            for attribute in ("gen_ai.provider.name", "gen_ai.system", "llm.provider"):
                cases.append({attribute: spelling, "gen_ai.request.model": "m-1"})
            cases.append({"gen_ai.system": spelling, "gen_ai.response.model": "m-2"})  # no requested model
    cases += [
        {"gen_ai.provider.name": "openai", "gen_ai.system": "azure", "gen_ai.request.model": "m"},  # current wins
        {"gen_ai.provider.name": "", "gen_ai.system": "openai", "gen_ai.request.model": "m"},  # empty: unknown
        {"gen_ai.provider.name": 7, "gen_ai.request.model": "m"},  # not a string: unknown
        {"gen_ai.provider.name": "openai", "gen_ai.request.model": "", "gen_ai.response.model": "r"},
        {"gen_ai.provider.name": "openai"},  # no model at all
        {"gen_ai.request.model": "m"},  # no provider at all
    ]
    return cases


@pytest.mark.parametrize("attrs", _alias_cases(), ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()))
def test_the_shard_key_is_the_stream_the_routewatch_collector_keys_the_span_by(attrs: dict[str, Any]) -> None:
    statements = shard_statements(load(ROOT / "otel-collector.scale-out.yaml"))
    out = run_ottl(statements, attrs)
    assert out[SHARD_KEY] == _converter_key(attrs)
    assert {k: v for k, v in out.items() if k != SHARD_KEY} == attrs, "only the key is added; nothing else changes"


def test_old_and_new_convention_spans_and_provider_aliases_share_one_key() -> None:
    statements = shard_statements(load(ROOT / "otel-collector.scale-out.yaml"))
    spellings = [{"gen_ai.provider.name": "azure.ai.openai"}, {"gen_ai.system": "azure"},
                 {"gen_ai.system": "az.ai.openai"}, {"gen_ai.provider.name": "Azure"}]  # fmt: skip
    keys = {run_ottl(statements, {**s, "gen_ai.request.model": "gpt-4o"})[SHARD_KEY] for s in spellings}
    assert keys == {"azure.ai.openai/gpt-4o"}


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
