"""Zero-code instrumentation: `opentelemetry-instrument python app.py` turns routewatch on through its
`opentelemetry_instrumentor` entry point; the app (`_zero_code_app.py`) imports neither routewatch nor
OpenTelemetry. Here the spans go to the console exporter and this script reads them back; in
production set `OTEL_EXPORTER_OTLP_ENDPOINT` instead (docs/exporting.md). The simulator is on
127.0.0.1, a host routewatch does not know, so its calls show as `openai_compatible`; calls to
api.openai.com show as `openai`.

Needs `opentelemetry-distro` (it configures the SDK from OTEL_* variables and flags):

    pip install routewatch opentelemetry-distro
    python examples/zero_code.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from _simulator import simulator

HERE = Path(__file__).resolve().parent
# beside this Python (a virtualenv's bin/), else on PATH
CLI = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent)) or shutil.which(
    "opentelemetry-instrument"
)
if CLI is None:
    sys.exit("opentelemetry-instrument is not installed: pip install opentelemetry-distro")


def console_spans(text: str) -> list[dict[str, Any]]:
    """The console exporter writes one indented JSON object per span; other lines are the app's."""
    decoder, spans, i = json.JSONDecoder(), [], text.find("{")
    while i >= 0:
        span, end = decoder.raw_decode(text, i)
        spans.append(span)
        i = text.find("{", end)
    return spans


with simulator() as url:
    env = {
        **os.environ,
        "ROUTEWATCH_SIMULATOR_URL": url,
        "OTEL_SERVICE_NAME": "zero-code-example",
        # This repository's dev install also has other GenAI and HTTP instrumentors (for benchmarks);
        # an app with only routewatch installed needs no such line.
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,openai_v2,httpx,httpx2,anthropic",
    }
    cmd = [CLI, "--traces_exporter", "console", "--metrics_exporter", "none", "--logs_exporter", "none",
           sys.executable, str(HERE / "_zero_code_app.py")]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)

if done.returncode != 0:
    sys.exit(f"the app failed:\n{done.stderr[-2000:]}")
app_lines = [line for line in done.stdout.splitlines() if line.startswith("app: ")]
spans = [
    s
    for s in console_spans(done.stdout.replace("\n".join(app_lines), ""))
    if "gen_ai.operation.name" in s["attributes"]
]
for span in spans:
    a = span["attributes"]
    print(
        f"{span['name']:20s} provider={a['gen_ai.provider.name']} stream={a.get('gen_ai.request.stream', False)} "
        f"tokens={a.get('gen_ai.usage.input_tokens')}/{a.get('gen_ai.usage.output_tokens')} "
        f"ttfc={a.get('gen_ai.response.time_to_first_chunk', '-')} "
        f"service={span['resource']['attributes']['service.name']}"
    )
assert len(spans) == 2, f"expected two GenAI spans, got {len(spans)}"
assert all(s["attributes"].get("gen_ai.usage.output_tokens", 0) > 0 for s in spans)
assert [s["attributes"].get("gen_ai.request.stream", False) for s in spans] == [False, True]
