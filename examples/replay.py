"""Tune detectors on your own history: export spans to an OTLP-JSON file, then replay them offline.

Step 1 records 300 calls whose latency triples after the 200th into a file, as any app would with
routewatch's file exporter (or the OpenTelemetry Collector's file exporter). Step 2 runs the drift
engine over the file with two settings and compares, then draws the alarms, the same as
`routewatch replay FILE --warm-up 100 --plot replay.png`.

    python examples/replay.py [out_dir]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import openai
from _simulator import simulator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import routewatch
from routewatch.otlp.file_exporter import OTLPJsonFileExporter, read_records
from routewatch.replay import plot_alarms, replay_records
from routewatch.simulator import Phase, ProviderSettings, Scenario

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="routewatch-replay-"))
out.mkdir(parents=True, exist_ok=True)
traces = out / "traces.jsonl"
traces.unlink(missing_ok=True)  # the exporter appends

# --- 1. record ---------------------------------------------------------------------------------
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPJsonFileExporter(traces)))
scenario = Scenario(
    default=ProviderSettings(latency_s=0.01, jitter_sigma=0.2),
    phases=(Phase(start_after_requests=200, default=ProviderSettings(latency_s=0.03)),),
)
with simulator(scenario) as url:
    routewatch.instrument(tracer_provider=tracer_provider, providers={url + "/v1/chat": "openai"})
    client = openai.OpenAI(base_url=url + "/v1", api_key="sk-example")
    for _ in range(300):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    routewatch.flush()
    routewatch.uninstrument()
tracer_provider.shutdown()

# --- 2. replay -----------------------------------------------------------------------------------
records = list(read_records(traces))
print(f"{len(records)} calls in {traces}")
for label, overrides in (
    ("production defaults", {}),
    ("warm_up 100", {"latency": {"warm_up": 100}}),
):
    config = routewatch.MonitorConfig(signals=("latency", "error"), detector_overrides=overrides)
    result = replay_records(records, config)
    alarms = [a for a in result.alarms if a.kind == "alarm"]
    print(f"{label:20s}: {len(alarms)} alarm(s)" + "".join(f"\n    {a.explanation}" for a in alarms))

png = out / "replay.png"
plot_alarms(result, png)
print(f"plot: {png}")
assert any(a.signal == "latency" and a.kind == "alarm" for a in result.alarms)
