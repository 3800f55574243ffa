"""The Prometheus series names routewatch really emits, derived from the code, for checking dashboards
and alert rules against.

Two sources:

1. In-process OpenTelemetry instruments. Every class that creates instruments is built here with a
   meter provider that records each `create_*` call (name, unit, kind); a guard test checks that
   this covers every `create_*` call site in src/. The OTel names are then translated the way the
   OpenTelemetry Collector's `prometheus` exporter does (collector-contrib, prometheus/otlptranslator
   `normalizeName`, default settings: metric suffixes on, UTF-8 escaped to underscores):

   - the name is split into tokens on every character outside [a-zA-Z0-9:] (so dots and runs of
     underscores become single underscores);
   - the unit's main part (before "/") is mapped (s -> seconds, ms -> milliseconds, By -> bytes,
     1 -> "", % -> percent, ...; unknown units such as USD stay as they are), skipped when it contains
     "{" or "}" (annotations like {token}), and appended unless the name already has that token;
     a per-unit after "/" becomes "per_<unit>" (s -> second, m -> minute, ...);
   - monotonic sums (counters, observable counters) get "_total" (moved to the end if present);
   - gauges of unit "1" get "_ratio";
   - histograms are exposed as <name>_bucket, <name>_sum and <name>_count; non-monotonic sums
     (up-down counters) and gauges as <name>.

2. The routewatch collector's own /metrics, scraped from a real collector on loopback after OTLP/HTTP
   traffic that gives every family samples (and so its labels), an open drift alarm included.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.metrics import MeterProvider, NoOpMeter

SRC = Path(__file__).resolve().parents[2] / "src" / "routewatch"
CREATE_CALL = re.compile(r"\.create_(counter|up_down_counter|histogram|gauge|observable_counter|"
                         r"observable_up_down_counter|observable_gauge)\(")  # fmt: skip

UNIT_MAP = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
    "Hz": "hertz", "1": "", "%": "percent",
}  # fmt: skip
PER_UNIT_MAP = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}
MONOTONIC = {"counter", "observable_counter"}
GAUGES = {"gauge", "observable_gauge"}


@dataclass(frozen=True)
class Instrument:
    name: str
    unit: str
    kind: str  # counter | up_down_counter | histogram | gauge | observable_counter | ...
    meter: str


# --- translation ---------------------------------------------------------------------------------------
def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-zA-Z0-9:]+", text) if t]


def _clean_unit(unit: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9:]", "_", unit)).lstrip("_")


def prometheus_name(name: str, unit: str, kind: str) -> str:
    """The exporter's metric name for one OTel instrument (without _bucket/_sum/_count)."""
    tokens = _tokens(name)
    main, _, per = unit.partition("/")
    main, per = main.strip(), per.strip()
    main_suffix = UNIT_MAP.get(main, main) if main and "{" not in main and "}" not in main else ""
    per_suffix = ""
    if per and "{" not in per and "}" not in per:
        per_suffix = "per_" + PER_UNIT_MAP.get(per, per)
    main_suffix, per_suffix = _clean_unit(main_suffix), _clean_unit(per_suffix)
    if main_suffix in tokens:
        main_suffix = ""
    if per_suffix == "per_":
        per_suffix = ""
    else:
        per_suffix = per_suffix.rstrip("_")
        if per_suffix in tokens:
            per_suffix = ""
    if per_suffix:
        main_suffix = main_suffix.rstrip("_")
    tokens += [s for s in (main_suffix, per_suffix) if s]
    if kind in MONOTONIC:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind in GAUGES:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    return "_" + out if out[:1].isdigit() else out


def series_names(instrument: Instrument) -> set[str]:
    base = prometheus_name(instrument.name, instrument.unit, instrument.kind)
    if instrument.kind == "histogram":
        return {base + "_bucket", base + "_sum", base + "_count"}
    return {base}


def label_name(attribute: str) -> str:
    """OTel attribute key -> Prometheus label (invalid characters to "_", leading digit prefixed)."""
    out = re.sub(r"[^a-zA-Z0-9_]", "_", attribute)
    return "key_" + out if out[:1].isdigit() else out


# --- capture -------------------------------------------------------------------------------------------
class _RecordingMeter(NoOpMeter):
    def __init__(self, sink: list[Instrument], name: str) -> None:
        super().__init__(name)
        self._sink = sink

    def _note(self, kind: str, name: str, unit: str) -> None:
        self._sink.append(Instrument(name, unit or "", kind, self.name))

    def create_counter(self, name: str, unit: str = "", description: str = "") -> Any:
        self._note("counter", name, unit)
        return super().create_counter(name, unit, description)

    def create_up_down_counter(self, name: str, unit: str = "", description: str = "") -> Any:
        self._note("up_down_counter", name, unit)
        return super().create_up_down_counter(name, unit, description)

    def create_histogram(self, name: str, unit: str = "", description: str = "", **kw: Any) -> Any:
        self._note("histogram", name, unit)
        return super().create_histogram(name, unit, description, **kw)

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> Any:
        self._note("gauge", name, unit)
        return super().create_gauge(name, unit, description)

    def create_observable_counter(self, name: str, callbacks: Any = None, unit: str = "", description: str = "") -> Any:
        self._note("observable_counter", name, unit)
        return super().create_observable_counter(name, callbacks, unit, description)

    def create_observable_up_down_counter(
        self, name: str, callbacks: Any = None, unit: str = "", description: str = ""
    ) -> Any:
        self._note("observable_up_down_counter", name, unit)
        return super().create_observable_up_down_counter(name, callbacks, unit, description)

    def create_observable_gauge(self, name: str, callbacks: Any = None, unit: str = "", description: str = "") -> Any:
        self._note("observable_gauge", name, unit)
        return super().create_observable_gauge(name, callbacks, unit, description)


class RecordingMeterProvider(MeterProvider):
    """A meter provider whose meters do nothing but remember which instruments were created."""

    def __init__(self) -> None:
        self.instruments: list[Instrument] = []

    def get_meter(self, name: str, version: str | None = None, schema_url: str | None = None,
                  attributes: Any = None) -> Any:  # fmt: skip
        return _RecordingMeter(self.instruments, name)


def _builders() -> list[Callable[[RecordingMeterProvider], Any]]:
    """Every class in src/ that creates OTel instruments, built with the recording provider."""
    from routewatch.drift.monitor import DriftMonitor
    from routewatch.drift.sinks import AlarmCounter
    from routewatch.metrics import CallMetrics
    from routewatch.router.health import HealthBook

    return [
        lambda mp: CallMetrics(mp),
        lambda mp: HealthBook(meter_provider=mp),
        lambda mp: AlarmCounter(meter_provider=mp),
        lambda mp: DriftMonitor(meter_provider=mp),
    ]


def in_process_instruments() -> list[Instrument]:
    provider = RecordingMeterProvider()
    for build in _builders():
        build(provider)
    unique: dict[str, Instrument] = {}
    for inst in provider.instruments:
        unique.setdefault(inst.name, inst)
    return sorted(unique.values(), key=lambda i: i.name)


def create_call_sites() -> list[str]:
    """`file:line` of every instrument creation in src/ (the capture above must cover them all)."""
    sites = []
    for path in sorted(SRC.rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if CREATE_CALL.search(line):
                sites.append(f"{path.relative_to(SRC)}:{lineno}")
    return sites


def create_call_names() -> dict[str, str | None]:
    """`file:line` -> the instrument name each creation in src/ passes (its first argument or `name=`, a
    string or a module-level constant, resolved in that module); None when it is computed some other way."""
    import ast
    import importlib

    out: dict[str, str | None] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        module = None
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and CREATE_CALL.match("." + node.func.attr + "(")):  # fmt: skip
                continue
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
            site = f"{path.relative_to(SRC)}:{node.lineno}"
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out[site] = arg.value
            elif isinstance(arg, (ast.Name, ast.Attribute)):
                if module is None:
                    dotted = ".".join(("routewatch", *path.relative_to(SRC).with_suffix("").parts))
                    module = importlib.import_module(dotted.removesuffix(".__init__"))
                value = eval(compile(ast.Expression(arg), str(path), "eval"), vars(module))  # a constant's name
                out[site] = value if isinstance(value, str) else None
            else:
                out[site] = None
    return out


def in_process_series() -> set[str]:
    return {name for inst in in_process_instruments() for name in series_names(inst)}


# --- the collector's /metrics ----------------------------------------------------------------------------
def collector_exposition() -> str:
    """GET /metrics of a real collector on loopback, after OTLP/HTTP traffic that exercises every family:
    GenAI spans (a steady stream, then four times slower, so the latency detector alarms), one
    failed call, one non-GenAI span and one malformed request."""
    import json
    import random
    import urllib.error
    import urllib.request

    from routewatch.collector.config import CollectorConfig, default_monitor_config
    from routewatch.collector.service import Collector

    monitor = default_monitor_config().model_copy(update={"detector_overrides": {"latency": {"warm_up": 50}}})
    config = CollectorConfig(host="127.0.0.1", grpc_port=None, http_port=0, monitor=monitor)
    rng = random.Random(7)

    def attr(key: str, value: str | int) -> dict[str, Any]:
        return {"key": key, "value": {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}}

    def span(i: int, duration_s: float, *, genai: bool = True, error: str | None = None) -> dict[str, Any]:
        start = 1_700_000_000_000_000_000 + i * 1_000_000_000
        attrs = [attr("gen_ai.operation.name", "chat"), attr("gen_ai.provider.name", "openai"),
                 attr("gen_ai.request.model", "gpt-4o-mini"), attr("gen_ai.usage.input_tokens", 10),
                 attr("gen_ai.usage.output_tokens", 20)] if genai else [attr("http.request.method", "GET")]  # fmt: skip
        if error:
            attrs.append(attr("error.type", error))
        return {"traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": "chat gpt-4o-mini", "kind": 3,
                "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + int(duration_s * 1e9)),
                "attributes": attrs, "status": {"code": 2} if error else {}}  # fmt: skip

    spans = [span(i, (0.5 if i < 100 else 2.0) * rng.uniform(0.8, 1.25)) for i in range(200)]
    spans += [span(200, 0.3, error="500"), span(201, 0.01, genai=False)]
    body = {"resourceSpans": [{"resource": {"attributes": [attr("service.name", "app")]},
                               "scopeSpans": [{"scope": {"name": "routewatch"}, "spans": spans}]}]}  # fmt: skip
    with Collector(config) as collector:
        post = urllib.request.Request(collector.http_url + "/v1/traces", data=json.dumps(body).encode(),
                                      headers={"content-type": "application/json"}, method="POST")  # fmt: skip
        with urllib.request.urlopen(post, timeout=10) as response:
            assert response.status == 200
        bad = urllib.request.Request(collector.http_url + "/v1/traces", data=b"{not json",
                                     headers={"content-type": "application/json"}, method="POST")  # fmt: skip
        try:
            urllib.request.urlopen(bad, timeout=10).close()
        except urllib.error.HTTPError as refused:
            assert refused.code == 400
        assert collector.flush(10)
        with urllib.request.urlopen(collector.http_url + "/metrics", timeout=10) as response:
            return str(response.read().decode())


def exposition_series(text: str) -> dict[str, set[str] | None]:
    """Series name -> label names seen, from a Prometheus text exposition. A family with no samples
    still counts as emitted (from its TYPE line), its labels unknown (None)."""
    from prometheus_client.parser import text_string_to_metric_families

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}
    out: dict[str, set[str] | None] = {}
    for family in text_string_to_metric_families(text):
        for suffix in suffixes.get(family.type, ("",)):
            out.setdefault(family.name + suffix, None)
        for sample in family.samples:
            labels = out.get(sample.name) or set()
            out[sample.name] = labels | set(sample.labels)
    return out


def in_process_labels() -> dict[str, set[str]]:
    """Series name -> labels, measured: real call records through CallMetrics and a HealthBook with a
    target, on the OTel SDK, attribute keys translated to label names. Instruments this does not
    exercise are missing (their labels are unknown, not empty)."""
    from dataclasses import replace

    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from factories import make_record
    from routewatch.metrics import CallMetrics
    from routewatch.router.health import HealthBook

    reader = InMemoryMetricReader()
    provider = SdkMeterProvider(metric_readers=[reader])
    metrics = CallMetrics(provider)
    ok = make_record(tags=(("tenant", "acme"), ("task", "summarise"), ("route", "default")))
    metrics.record(ok)
    metrics.record(replace(ok, stream=True, time_to_first_chunk_s=0.2, chunk_intervals_s=(0.01, 0.02)))
    metrics.record(replace(ok, status_code=429, error_type="429", cost_usd=None, priced=False))
    metrics.record(replace(ok, cost_usd=None, priced=False))
    metrics.record(replace(ok, response=replace(ok.response, parsed=False)))
    book = HealthBook(meter_provider=provider)
    book.add_target("primary", provider="openai", model="gpt-4o-mini")
    out: dict[str, set[str]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = type(metric.data).__name__.lower()  # sum | gauge | histogram
                monotonic = bool(getattr(metric.data, "is_monotonic", False))
                inst_kind = "histogram" if kind == "histogram" else "counter" if monotonic else "gauge"
                for series in series_names(Instrument(metric.name, metric.unit or "", inst_kind, sm.scope.name)):
                    labels = out.setdefault(series, set())
                    for point in metric.data.data_points:
                        labels.update(label_name(k) for k in (point.attributes or {}))
                    if series.endswith("_bucket"):
                        labels.add("le")
    provider.shutdown()
    return out
