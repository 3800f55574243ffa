"""`routewatch demo`: three simulated providers, a mixed workload, a regression, and routewatch's response.

The simulator serves OpenAI, Anthropic and Mistral (OpenAI-compatible) on loopback. A workload of
chat, streaming, structured-output and tool calls runs through the official SDKs and a router, with
`routewatch.instrument(monitor=...)` turning every call into a span and feeding the drift monitor.
Part-way through, one provider regresses (by default its latency doubles and a third of its
structured outputs break their schema) and later recovers. The run shows the alarm, the demotion,
traffic moving away, the probes and the restoration, then prints a verdict a script can check.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .scenarios import SCENARIOS, TARGETS, Target, build_scenario
from .summary import Summary, summarise
from .tally import Tally

__all__ = ["SCENARIOS", "TARGETS", "DemoError", "demo_monitor_config", "run_demo"]

_WORKERS = 24
_RATE_PER_S = 120.0  # paced below what two cores manage, so latency is mostly the simulator's, not queueing
_TEARDOWN_S = 3.0  # stopping workers, flushing spans, stopping the simulator
_MIN_SHARE = 0.85  # of --duration, whatever start-up took


class DemoError(Exception):
    """The demo cannot run as asked (a missing extra, an unwritable trace file): one line for the user."""


#: module -> what it is, for the demo's own needs and for the flags that need more
_NEEDS = {"openai": "the openai SDK", "anthropic": "the anthropic SDK", "jsonschema": "jsonschema (schema checks)"}
_LIVE_NEEDS = {"rich": "rich (the live view)"}
_OTLP_NEEDS = {"opentelemetry.exporter.otlp.proto.grpc.trace_exporter": "the OTLP/gRPC exporter"}


def _require(live: bool, otlp_endpoint: str | None) -> None:
    """Fail before anything starts when an optional dependency of what was asked is missing."""
    import importlib

    needs = {**_NEEDS, **(_LIVE_NEEDS if live else {}), **(_OTLP_NEEDS if otlp_endpoint else {})}
    missing = []
    for module, what in needs.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(what)
    if missing:
        raise DemoError(f"needs {' and '.join(missing)}, not installed here: pip install 'routewatch[demo]'")


def demo_monitor_config() -> Any:
    """Detectors sized for a one-minute run: baselines from ~100 calls instead of ~1,000."""
    from ..drift import MonitorConfig

    # Big moves only on latency: the demo's app shares two cores with the simulator, and its own
    # scheduling hiccups are small, correlated shifts that a production budget would flag.
    continuous = {"warm_up": 100, "cooldown": 15, "halflife": 300.0, "window": 16, "shifts": (2.0, 4.0),
                  "tail_share": 0.25, "persistence": 3}  # fmt: skip
    # Healthy demo providers make no errors and no bad outputs. On such an all-zero baseline a weak
    # prior taken 0.6 sd pessimistically makes the improvement test fire after every warm-up and
    # cooldown, so the detector sat in cooldown most of the time and a regression starting in one was
    # learned as the new baseline (no alarm). 0.3 sd keeps the prior's caution without that.
    rates = {"warm_up": 50, "cooldown": 20, "block": 10, "memory": 2000, "recovery_ratio": 0.3, "prior_n": 30.0,
             "uncertainty": 0.3}  # fmt: skip
    return MonitorConfig(
        signals=("latency", "error", "server_error", "schema_invalid"),
        false_alarms_per_100k=5.0,
        detector_overrides={
            "latency": continuous,
            "error": rates,
            "server_error": rates,
            "schema_invalid": rates,
        },
        change_events=False,
    )


def run_demo(
    duration_s: float = 60.0,
    scenario: str = "latency-and-schema",
    regressed: str | None = None,
    otlp_endpoint: str | None = None,
    traces_path: str | os.PathLike[str] | None = "routewatch-demo-traces.jsonl",
    live: bool | None = None,
    as_json: bool = False,
    seed: int = 7,
) -> int:
    """Run the demo; 0 when the regression was detected, demoted, routed around and restored, else 1.

    `live=None` shows the live view when stdout is a terminal.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    target = next((t for t in TARGETS if t.name == (regressed or TARGETS[0].name)), None)
    if target is None:
        raise ValueError(f"unknown provider {regressed!r}; choose from {', '.join(t.name for t in TARGETS)}")
    if live is None:
        live = sys.stdout.isatty() and not as_json
    _require(live, otlp_endpoint)
    os.environ.setdefault("ANTHROPIC_OPEN_TELEMETRY", "false")  # routewatch makes the spans
    with _quiet_logs():
        summary = _run(duration_s, scenario, target, otlp_endpoint, traces_path, live, seed, as_json)
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2, default=str))
    else:
        print("\n".join(summary.lines()))
    return 0 if summary.passed else 1


def _process_age_s() -> float:
    """Seconds since this process started (Linux's /proc; 0 where that is not available)."""
    try:
        with open("/proc/self/stat", "rb") as stat, open("/proc/uptime", "rb") as uptime:
            ticks = int(stat.read().rsplit(b")", 1)[1].split()[19])  # field 22, starttime
            return max(0.0, float(uptime.read().split()[0]) - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def _run(
    total_s: float, scenario: str, regressed: Target, otlp_endpoint: str | None,
    traces_path: str | os.PathLike[str] | None, live: bool, seed: int, as_json: bool = False,
) -> Summary:  # fmt: skip
    started = time.monotonic() - _process_age_s()  # the budget counts the interpreter's start-up too
    import routewatch

    from ..drift import DriftMonitor
    from ..simulator import Simulator
    from .routing import make_routing
    from .view import LiveView, PlainView
    from .workload import Workload

    regression = SCENARIOS[scenario]
    tracer_provider, meter_provider, traces_file = _telemetry(otlp_endpoint, traces_path)
    monitor = DriftMonitor(demo_monitor_config(), meter_provider=meter_provider)
    tally = Tally(TARGETS)
    with Simulator(scenario=build_scenario(regressed, regression, 1e9, 1e9, seed)) as warm:
        Workload(warm.url, TARGETS, seed).warm_up()  # imports and first-call costs, before any baseline
    # The run gets what start-up left of the budget, less the few seconds shutting down takes, but
    # never less than most of it: on a busy machine the demo takes longer rather than skimp on calls.
    spent = time.monotonic() - started
    duration_s = round(max(_MIN_SHARE * total_s, total_s - spent - _TEARDOWN_S), 1)
    inject_at, recover_at = round(duration_s * 0.2, 1), round(duration_s * 0.5, 1)
    scenario_json = build_scenario(regressed, regression, inject_at, recover_at, seed).model_dump_json(
        exclude_unset=True
    )
    with _simulator_process(scenario_json) as sim_url:
        tally.started = time.monotonic()  # the simulator's phases count from its start, a moment ago
        workload = Workload(sim_url, TARGETS, seed)
        routewatch.instrument(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            providers={sim_url + "/v1/chat": "openai", sim_url + "/mistral/v1": "mistral_ai"},
            monitor=monitor,
        )
        routewatch.add_listener(tally.on_record)
        routing = make_routing(TARGETS, monitor, duration_s, seed, workload.clients, tracer_provider, meter_provider)

        def story() -> list[str]:
            """The verdicts as they stand right now (the live view's summary panel)."""
            now = Summary(scenario=scenario, regression=regression.description, regressed=regressed.name,
                          router=routing.kind, duration_s=duration_s, injected_at_s=inject_at,
                          recovered_at_s=recover_at, calls=0,
                          expected_signals=regression.expected_signals)  # fmt: skip
            return summarise(now, tally, {n: st for n, (st, _, _) in routing.states().items()}).lines()[1:6]

        title = f"routewatch demo: {regressed.name} will regress ({regression.description}); router: {routing.kind}"
        view: Any = (
            LiveView(tally, routing.states, title, duration_s, inject_at, recover_at, story=story)
            if live
            else PlainView(tally, routing.states, out=sys.stderr if as_json else sys.stdout)
        )
        if not live:
            print(title, file=sys.stderr if as_json else sys.stdout, flush=True)
        _wire_events(tally, monitor, routing, view)
        stop = threading.Event()
        workers = [
            threading.Thread(
                target=_worker, args=(i, workload, routing, tally, view, stop), daemon=True, name=f"demo-worker-{i}"
            )
            for i in range(_WORKERS)
        ]
        try:
            for w in workers:
                w.start()
            with view:
                _drive(view, tally, duration_s, inject_at, recover_at, regressed, regression.description, live)
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=15)
            routewatch.flush()
            ledger = routing.states()
            states = {n: s for n, (s, _, _) in ledger.items()}
            still = ledger.get(regressed.name, ("", 0.0, ""))[2]
            routing.close()
            routewatch.remove_listener(tally.on_record)
            routewatch.uninstrument()
            workload.close()
    tracer_provider.shutdown()
    cost = sum(tally.row(t.name).cost_usd for t in TARGETS)
    summary = Summary(
        scenario=scenario, regression=regression.description, regressed=regressed.name, router=routing.kind,
        duration_s=duration_s, injected_at_s=inject_at, recovered_at_s=recover_at,
        calls=sum(tally.row(t.name).calls for t in TARGETS), cost_usd=cost, traces_file=traces_file,
        expected_signals=regression.expected_signals,
    )  # fmt: skip
    summary.final_reason = still
    return summarise(summary, tally, states)


def _worker(index: int, workload: Any, routing: Any, tally: Tally, view: Any, stop: threading.Event) -> None:
    """Paced requests until told to stop: each worker sends one every `_WORKERS / _RATE_PER_S` seconds.

    A request the router sent as a probe is counted as a probe, not as traffic, and shown as an event.
    """
    period = _WORKERS / _RATE_PER_S
    due = time.monotonic() + index * period / _WORKERS
    while not stop.is_set():
        delay = due - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return
        due = max(due + period, time.monotonic() - period)
        kind = workload.next_kind()
        sent = routing.send(lambda t, client, kind=kind: workload.call(t, kind, client))
        if sent.target:
            tally.routed(sent.target, sent.probe)
            if sent.probe:
                outcome = "passed" if sent.ok else f"failed: {sent.error}"
                view.on_event(tally.event("probe", sent.target, f"probe ({kind}) {outcome}"))


def _drive(
    view: Any, tally: Tally, duration_s: float, inject_at: float, recover_at: float, regressed: Target,
    description: str, live: bool,
) -> None:  # fmt: skip
    """The run's clock: phase events on time, a plain status line every tenth of the run."""
    phases = [(inject_at, f"regression injected: {description}"), (recover_at, "regression over: back to baseline")]
    next_status = duration_s / 10
    while (now := tally.now()) < duration_s:
        while phases and now >= phases[0][0]:
            view.on_event(tally.event("phase", regressed.name, phases.pop(0)[1]))
        if not live and now >= next_status:
            view.status()
            next_status += duration_s / 10
        time.sleep(0.1)


def _wire_events(tally: Tally, monitor: Any, routing: Any, view: Any) -> None:
    def on_alarm(alarm: Any) -> None:
        name = tally.target_of(alarm.key.provider, alarm.key.model)
        if name is None or alarm.kind == "change":
            return
        if alarm.kind == "alarm":
            kind = "alarm"
        elif alarm.explanation.startswith("improvement"):
            return  # better than baseline: evidence for the detectors, noise on screen
        else:
            kind = "recovered"
        view.on_event(tally.event(kind, name, f"{alarm.signal}: {alarm.explanation}"))

    def on_transition(move: Any) -> None:
        view.on_event(tally.event("transition", move.target, f"{move.old.value} -> {move.new.value}: {move.reason}"))

    monitor.subscribe(on_alarm)
    routing.subscribe(on_transition)


def _telemetry(otlp_endpoint: str | None, traces_path: str | os.PathLike[str] | None) -> tuple[Any, Any, str | None]:
    """A tracer provider writing OTLP JSON lines (and OTLP/gRPC when asked) and a meter provider."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": "routewatch-demo"})
    tracer_provider = TracerProvider(resource=resource)
    traces_file = None
    if traces_path is not None:
        exporter = _file_exporter(Path(traces_path))
        if exporter is not None:
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
            traces_file = str(traces_path)
    readers: list[Any] = []
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        insecure = otlp_endpoint.startswith("http://")
        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint, insecure=insecure))
        )
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=otlp_endpoint, insecure=insecure),
                                                     export_interval_millis=5000))  # fmt: skip
    return tracer_provider, MeterProvider(resource=resource, metric_readers=readers), traces_file


def _file_exporter(path: Path) -> Any:
    from ..otlp.file_exporter import OTLPJsonFileExporter

    try:
        path.unlink(missing_ok=True)  # one run per file: the exporter appends
        return OTLPJsonFileExporter(path)
    except OSError as exc:
        raise DemoError(f"cannot write the trace file {path}: {exc.strerror or exc} (choose another --traces)") from exc


@contextlib.contextmanager
def _simulator_process(scenario_json: str) -> Iterator[str]:
    """The simulator in its own process: its work does not queue behind the app's on one interpreter lock."""
    cmd = [sys.executable, "-m", "routewatch.simulator", "--port", "0", "--scenario-json", scenario_json]
    src = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # "routewatch simulator listening on http://127.0.0.1:PORT"
        if not line.startswith("routewatch simulator listening on "):
            err = proc.stderr.read() if proc.stderr is not None and proc.poll() is not None else ""
            raise RuntimeError(f"the provider simulator did not start: {(line or err).strip()[-300:]}")
        yield line.rsplit(" ", 1)[-1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Alarms and transitions are on screen already; keep their log records from scribbling over it."""
    loggers = [logging.getLogger(name) for name in ("routewatch", "httpx", "httpx2")]
    saved = [(lg, lg.propagate, lg.level) for lg in loggers]
    null = logging.NullHandler()
    for lg in loggers:
        lg.addHandler(null)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, propagate, _ in saved:
            lg.removeHandler(null)
            lg.propagate = propagate
