"""`opentelemetry-instrument python app.py` turns routewatch on with no code change in the app."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

APP = textwrap.dedent(
    """
    import sys, httpx2, routewatch
    records = []
    routewatch.add_listener(records.append)   # observation only: the app does not instrument
    with httpx2.Client() as client:
        client.post(sys.argv[1] + "/v1/chat/completions", headers={"authorization": "Bearer sk-x"},
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    routewatch.flush()
    print(records[0].provider, records[0].request_model, records[0].usage.output_tokens)
    """
)


CLI = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")


@pytest.mark.skipif(not os.path.exists(CLI), reason="opentelemetry-instrument is not installed beside python")
def test_opentelemetry_instrument_enables_routewatch(tmp_path, simulator) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {
        **os.environ,
        # Only routewatch: the other instrumentors installed for the benchmarks stay off.
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,openai_v2,httpx,httpx2,anthropic",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    out = subprocess.run(
        [CLI, sys.executable, str(app), simulator.url],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    provider, model, tokens = out.stdout.split()
    assert (provider, model) == ("openai_compatible", "gpt-4o-mini") and int(tokens) > 0
