"""End to end: an instrumented app calls a provider (the simulator) with the official OpenAI SDK, its
spans go over real OTLP/gRPC to a routewatch collector, a real Prometheus scrapes the collector's
/metrics and evaluates dashboards/alerts/routewatch-rules.yml, and when the provider starts failing
three calls in ten the drift alert fires in Prometheus.

The rules are used as committed, except `for:` set to 0s so the test does not wait out the minute;
the detectors' warm-up is shortened to 50 calls for the same reason. The injected drift is in the
error rate, which the simulator's seed fixes; a latency shift would be judged against latencies
that a loaded test machine bends (the app, the simulator and the collector share one process).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import promnames
import promql
import pytest
import yaml

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "dashboards" / "alerts" / "routewatch-rules.yml"
PROMETHEUS = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
T = TypeVar("T")

pytestmark = pytest.mark.requires_tool("prometheus")

BASELINE_CALLS = 70  # the detectors learn from the first 50
MAX_REGRESSED_CALLS = 1000  # calls keep coming until the alert fires (a few seconds' worth at most)
WARM_UP = {signal: {"warm_up": 50} for signal in ("latency", "error", "server_error")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
        return json.loads(response.read())


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float, log: Callable[[], str] = str) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = probe()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}\n{log()}")
        time.sleep(0.25)


class Prometheus:
    """A Prometheus server on a free loopback port with its own storage, stopped by `close()`."""

    def __init__(self, tmp: Path, scrape_target: str, rule_file: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(rule_file)],
            "scrape_configs": [{"job_name": "routewatch-collector", "static_configs": [{"targets": [scrape_target]}]}],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log_path = tmp / "prometheus.log"
        self._log = self.log_path.open("wb")
        assert PROMETHEUS is not None
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def ready(self) -> bool:
        with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
            return response.status == 200

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = get_json(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert data["status"] == "success", data
        return list(data["data"]["result"])

    def alerts(self, name: str, state: str = "firing") -> list[dict[str, Any]]:
        data = get_json(self.url + "/api/v1/alerts")
        return [a for a in data["data"]["alerts"] if a["labels"]["alertname"] == name and a["state"] == state]

    def rule_health(self) -> list[str]:
        groups = get_json(self.url + "/api/v1/rules")["data"]["groups"]
        return [f"{r['name']}: {r.get('lastError')}" for g in groups for r in g["rules"] if r.get("health") == "err"]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self._log.close()


def collector_expressions(served: set[str]) -> list[tuple[str, str]]:
    """(where, expr) of every dashboard and rule expression that only reads the collector's series."""
    found = []
    for path in sorted((ROOT / "dashboards" / "grafana").glob("*.json")):
        for where, expr in promql.dashboard_expressions(json.loads(path.read_text())):
            found.append((f"{path.name} {where}", expr))
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            found.append((f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]))
    return [(where, expr) for where, expr in found if promql.metric_names(expr) <= served]


def rules_without_waiting(tmp: Path) -> Path:
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = "0s"
    path = tmp / "rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


@pytest.fixture
def collector() -> Iterator[Any]:
    from routewatch.collector.config import CollectorConfig, default_monitor_config
    from routewatch.collector.service import Collector

    monitor = default_monitor_config().model_copy(update={"detector_overrides": WARM_UP})
    config = CollectorConfig(host="127.0.0.1", grpc_port=0, http_port=0, monitor=monitor)
    with Collector(config) as running:
        yield running


@pytest.fixture
def app(collector: Any) -> Iterator[Callable[..., int]]:
    """An app instrumented by routewatch, exporting spans over OTLP/gRPC to the collector; calling it
    makes up to n chat completions with the official OpenAI SDK against the simulator (fewer if
    `stop` is set meanwhile) and returns how many it made."""
    import openai
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import routewatch
    from routewatch.simulator import Phase, ProviderSettings, Scenario, Simulator

    failing = ProviderSettings(latency_s=0.01, jitter_sigma=0.15, faults={"http_503": 0.3})
    scenario = Scenario(
        seed=7,
        default=ProviderSettings(latency_s=0.01, jitter_sigma=0.15),
        phases=(Phase(start_after_requests=BASELINE_CALLS, default=failing),),  # then 3 requests in 10 fail
    )
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=collector.grpc_target, insecure=True), schedule_delay_millis=100,
    ))  # fmt: skip
    meter_provider = MeterProvider()
    with Simulator(scenario=scenario) as sim:
        routewatch.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                              providers={sim.url + "/v1": "openai"})  # fmt: skip
        client = openai.OpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=0)

        def call(n: int, stop: threading.Event | None = None) -> int:
            made = 0
            while made < n and not (stop is not None and stop.is_set()):
                with contextlib.suppress(openai.APIStatusError):
                    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
                made += 1
            routewatch.flush()
            tracer_provider.force_flush()
            return made

        try:
            yield call
        finally:
            routewatch.uninstrument()
            client.close()
            tracer_provider.shutdown()
            meter_provider.shutdown()


def test_drift_alert_fires_in_prometheus_when_the_provider_starts_failing(
    tmp_path: Path, collector: Any, app: Callable[..., int]
) -> None:
    target = urllib.parse.urlsplit(collector.http_url).netloc
    prometheus = Prometheus(tmp_path, target, rules_without_waiting(tmp_path))
    try:
        wait_for("Prometheus to start", prometheus.ready, 30, prometheus.log)
        wait_for("the first scrape of the collector",
                 lambda: prometheus.query('up{job="routewatch-collector"} == 1'), 20, prometheus.log)  # fmt: skip

        app(BASELINE_CALLS)
        calls = 'sum(routewatch_stream_calls_total{provider="openai", model="gpt-4o-mini"})'
        wait_for(f"{BASELINE_CALLS} calls in Prometheus",
                 lambda: [r for r in prometheus.query(calls) if float(r["value"][1]) >= BASELINE_CALLS], 20,
                 prometheus.log)  # fmt: skip
        time.sleep(1.5)  # at least one more rule evaluation over the scraped baseline
        early = [a for a in prometheus.alerts("RoutewatchDriftAlarm") if a["labels"]["signal"] == "error"]
        assert early == [], "an error-rate alarm before anything changed"
        assert prometheus.query('routewatch_drift_alarm_active{signal="error"} > 0') == []

        stop = threading.Event()
        failing_calls = threading.Thread(target=app, args=(MAX_REGRESSED_CALLS, stop), daemon=True)
        failing_calls.start()  # the simulator is in its failing phase from here on

        def error_alerts() -> list[dict[str, Any]]:
            return [a for a in prometheus.alerts("RoutewatchDriftAlarm") if a["labels"]["signal"] == "error"]

        try:
            firing = wait_for("RoutewatchDriftAlarm to fire on the error rate", error_alerts, 40, prometheus.log)
        finally:
            stop.set()
            failing_calls.join(timeout=30)
        (alert,) = firing
        assert alert["labels"]["provider"] == "openai"
        assert alert["labels"]["model"] == "gpt-4o-mini"
        assert alert["labels"]["operation"] == "chat"
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["summary"] == "openai/gpt-4o-mini: error drifted (chat)"
        assert prometheus.rule_health() == [], "a rule failed to evaluate"

        # The series the rules and dashboards read from the collector are the ones it really serves.
        names = {
            r["metric"]["__name__"] for r in prometheus.query('count by (__name__) ({job="routewatch-collector"})')
        }
        for name in ("routewatch_collector_spans_received_total", "routewatch_collector_spans_accepted_total",
                     "routewatch_collector_spans_dropped_total", "routewatch_collector_queue_depth",
                     "routewatch_collector_queue_capacity", "routewatch_drift_alarm_active",
                     "routewatch_drift_alarms_total", "routewatch_stream_calls_total", "routewatch_stream_current",
                     "routewatch_stream_baseline", "routewatch_fleet_target_state"):  # fmt: skip
            assert name in names, f"{name} not scraped; got {sorted(names)}"
        received = prometheus.query('sum(routewatch_collector_spans_received_total{protocol="grpc"})')
        assert float(received[0]["value"][1]) > BASELINE_CALLS

        # Every dashboard query and rule that reads the collector evaluates; the panels and recording
        # rules show data. Rightly empty here: alert conditions and annotations (nothing else is wrong),
        # the rejection series (nothing was rejected), alarm deliveries (no Alertmanager or webhook is
        # configured) and the quality-rate baselines (rate detectors are still warming up after a
        # hundred-odd calls: no baseline yet, so no series).
        with urllib.request.urlopen(collector.http_url + "/metrics", timeout=5) as response:
            served = set(promnames.exposition_series(response.read().decode()))
        reading = collector_expressions(served)
        assert len(reading) > 20
        for _, expr in reading:
            prometheus.query(promql.grafana_to_promql(expr))  # raises unless Prometheus evaluated it
        panels = [(where, expr) for where, expr in reading
                  if not where.startswith("rule Routewatch") and " annotation " not in where
                  and "requests_rejected" not in expr and "alert_deliveries" not in expr
                  and not ("routewatch_stream_baseline" in expr and "refusal" in expr)]  # fmt: skip

        def empty_panels() -> list[str]:
            return [
                f"{where}: {expr}" for where, expr in panels if not prometheus.query(promql.grafana_to_promql(expr))
            ]

        wait_for(
            "every collector panel to show data", lambda: not empty_panels(), 15, lambda: "\n".join(empty_panels())
        )
    finally:
        prometheus.close()
