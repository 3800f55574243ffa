"""Per-call time routewatch adds over the bare openai SDK, beside the peer instrumentations.

Runs the provider simulator in its own process pinned to one core and each configuration in a
fresh client process pinned to the other, alternating configurations round by round (A B A B) on
this shared, noisy machine. Reports, per configuration, the median over rounds of the paired
difference of per-call medians against the bare SDK measured in the same round.

    python bench/overhead.py                 # defaults: 7 rounds x 400 calls per kind
    python bench/overhead.py --rounds 3 --calls 200 --configs bare,routewatch

Configurations: bare, httpx2 (opentelemetry-instrumentation-httpx's HTTPX2ClientInstrumentor),
openai-v2 (official), openllmetry (Traceloop), routewatch. All share the same SDK tracer and meter
providers (batch span processor to a discarding exporter, in-memory metric reader).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("bare", "httpx2", "openai-v2", "openllmetry", "routewatch")
MESSAGES = [{"role": "user", "content": "Say something short about routing."}]


def _taskset(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- worker: one configuration in one process ----------------------------------------------------
def _setup(config: str) -> None:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Discard()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    if config == "httpx2":
        from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor

        HTTPX2ClientInstrumentor().instrument()
    elif config == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
    elif config == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as TraceloopInstrumentor

        TraceloopInstrumentor().instrument()
    elif config == "routewatch":
        import routewatch

        routewatch.instrument()
    elif config != "bare":
        raise SystemExit(f"unknown config {config}")


def _worker(config: str, base_url: str, calls: int) -> dict[str, Any]:
    _setup(config)
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    plain_times: list[float] = []
    stream_times: list[float] = []
    chunks = 0
    for i in range(calls + 50):  # 50 warm-up calls, discarded
        t0 = time.perf_counter()
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        t1 = time.perf_counter()
        n = 0
        for _chunk in client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        ):
            n += 1
        t2 = time.perf_counter()
        if i >= 50:
            plain_times.append(t1 - t0)
            stream_times.append(t2 - t1)
            chunks = n
    return {
        "config": config,
        "plain_us": statistics.median(plain_times) * 1e6,
        "stream_us": statistics.median(stream_times) * 1e6,
        "chunks": chunks,
    }


# --- parent: simulator, rounds, pairing ----------------------------------------------------------
def _start_simulator(port: int, tokens: int) -> subprocess.Popen[bytes]:
    scenario = json.dumps({"default": {"output_tokens": tokens, "ttft_s": 0, "per_token_s": 0, "latency_s": 0}})
    cmd = [*_taskset(1), sys.executable, "-m", "routewatch.simulator", "--port", str(port), "--scenario-json", scenario]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("simulator did not start: " + (proc.stderr.read().decode() if proc.stderr else ""))


def _run_worker(config: str, base_url: str, calls: int) -> dict[str, Any]:
    cmd = [*_taskset(0), sys.executable, __file__, "--worker", config, "--base-url", base_url, "--calls", str(calls)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{config} worker failed:\n{out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _import_time(module: str, repeats: int = 9) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--tokens", type=int, default=22, help="output tokens per reply (chunks ~ tokens + 3)")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--worker")
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.base_url, args.calls)))
        return

    configs = [c for c in args.configs.split(",") if c != "bare"]
    port = _free_port()
    sim = _start_simulator(port, args.tokens)
    base_url = f"http://127.0.0.1:{port}/v1"
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in ["bare", *configs]}
    diffs: dict[str, dict[str, list[float]]] = {c: {"plain": [], "stream": []} for c in configs}
    try:
        for r in range(args.rounds):
            order = configs if r % 2 == 0 else list(reversed(configs))
            for config in order:  # each peer paired with a bare run right before it
                bare = _run_worker("bare", base_url, args.calls)
                other = _run_worker(config, base_url, args.calls)
                results["bare"].append(bare)
                results[config].append(other)
                diffs[config]["plain"].append(other["plain_us"] - bare["plain_us"])
                diffs[config]["stream"].append(other["stream_us"] - bare["stream_us"])
                print(f"round {r + 1}: {config:12s} +{diffs[config]['plain'][-1]:7.0f} us plain, "
                      f"+{diffs[config]['stream'][-1]:7.0f} us stream", file=sys.stderr, flush=True)  # fmt: skip
    finally:
        sim.terminate()
        sim.wait(timeout=10)

    bare_plain = statistics.median(r["plain_us"] for r in results["bare"])
    bare_stream = statistics.median(r["stream_us"] for r in results["bare"])
    chunks = results["bare"][0]["chunks"]
    print(f"\nopenai SDK chat calls on loopback, {args.rounds} rounds x {args.calls} calls, medians")
    print(f"bare SDK: {bare_plain:,.0f} us non-streamed, {bare_stream:,.0f} us streamed ({chunks} chunks)\n")
    print(f"{'config':14s} {'added, plain':>14s} {'added, stream':>14s} {'per chunk*':>11s} {'ratio vs rw':>12s}")
    rw_plain = statistics.median(diffs["routewatch"]["plain"]) if "routewatch" in diffs else None
    for config in configs:
        plain = statistics.median(diffs[config]["plain"])
        stream = statistics.median(diffs[config]["stream"])
        per_chunk = (stream - plain) / chunks if chunks else float("nan")
        ratio = f"{plain / rw_plain:.1f}x" if rw_plain and rw_plain > 0 else "-"
        print(f"{config:14s} {plain:+13,.0f}us {stream:+13,.0f}us {per_chunk:+10.1f}us {ratio:>12s}")
    print("* (streamed added - non-streamed added) / chunks")
    print(f"\nimport routewatch: {_import_time('routewatch') * 1e3:.0f} ms "
          f"(python -c pass: {_import_time('sys') * 1e3:.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
