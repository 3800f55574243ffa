"""Per-call time routewatch adds over the bare openai SDK, beside the peer instrumentations.

Runs the provider simulator in its own process pinned to one core, and each configuration in a
fresh client process pinned to the other. Inside that process, batches of bare calls and of calls
with the instrumentation switched on alternate (A B B A ...), so both see the same process, cache
and machine state on this shared, noisy machine. Reports, per configuration, the median over rounds
of the difference between the instrumented and bare per-call medians.

    python bench/overhead.py                 # defaults: 5 rounds x 400 calls per kind and config
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


# --- worker: one configuration, alternated with the bare SDK in one process -----------------------
def _providers() -> None:
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
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


def _switch(config: str) -> tuple[Any, Any]:
    """(enable, disable) for one configuration; each toggles its instrumentation in place."""
    if config == "httpx2":
        from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor

        inst: Any = HTTPX2ClientInstrumentor()
    elif config == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        inst = OpenAIInstrumentor()
    elif config == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as TraceloopInstrumentor

        inst = TraceloopInstrumentor()
    elif config == "routewatch":
        import routewatch

        return routewatch.instrument, routewatch.uninstrument
    else:
        raise SystemExit(f"unknown config {config}")
    return inst.instrument, inst.uninstrument


def _worker(config: str, base_url: str, calls: int, batch: int = 25) -> dict[str, Any]:
    """Alternate batches of bare and instrumented calls (A B B A ...) and compare their medians."""
    _providers()
    enable, disable = _switch(config)
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    times: dict[str, dict[str, list[float]]] = {k: {"plain": [], "stream": []} for k in ("bare", config)}
    cpu: dict[str, list[float]] = {"bare": [], config: []}  # process CPU seconds per call pair, per batch
    chunks = 0

    def run(kind: str, n: int, keep: bool) -> None:
        nonlocal chunks
        cpu_start = time.process_time()
        for _ in range(n):
            t0 = time.perf_counter()
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            t1 = time.perf_counter()
            count = 0
            for _chunk in client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            ):
                count += 1
            t2 = time.perf_counter()
            if keep:
                times[kind]["plain"].append(t1 - t0)
                times[kind]["stream"].append(t2 - t1)
                chunks = count
        if keep:
            cpu[kind].append((time.process_time() - cpu_start) / n)

    run("bare", 30, keep=False)  # warm-up, both ways
    enable()
    run(config, 30, keep=False)
    disable()
    for b in range(max(1, calls // batch)):
        order = ("bare", config) if b % 2 == 0 else (config, "bare")
        for kind in order:
            if kind != "bare":
                enable()
            run(kind, batch, keep=True)
            if kind != "bare":
                disable()
    med = {k: {m: statistics.median(v) * 1e6 for m, v in d.items()} for k, d in times.items()}
    return {
        "config": config,
        "bare_plain_us": med["bare"]["plain"],
        "bare_stream_us": med["bare"]["stream"],
        "plain_us": med[config]["plain"],
        "stream_us": med[config]["stream"],
        "chunks": chunks,
        "bare_cpu_us": statistics.median(cpu["bare"]) * 1e6,
        "cpu_us": statistics.median(cpu[config]) * 1e6,
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


def _memory_worker(mode: str, base_url: str, streams: int) -> float:
    """Bytes held per in-flight stream (first chunk read), measured with tracemalloc."""
    import gc
    import tracemalloc

    import httpx2

    if mode == "routewatch":
        import routewatch

        routewatch.instrument(providers={base_url: "openai"})
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    client = httpx2.Client(limits=httpx2.Limits(max_connections=streams + 10), timeout=30)

    def open_one() -> tuple[Any, Any]:
        request = client.build_request(
            "POST", base_url + "/chat/completions", json=body, headers={"authorization": "Bearer sk-bench"}
        )
        response = client.send(request, stream=True)
        chunks = response.iter_raw()
        next(chunks)
        return response, chunks

    for response, _ in [open_one() for _ in range(20)]:  # warm pools, imports and caches
        response.close()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = [open_one() for _ in range(streams)]
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    for response, _ in held:
        response.close()
    return (after - before) / streams


def _stream_memory(base_url: str, streams: int = 200) -> dict[str, float]:
    result = {}
    for mode in ("bare", "routewatch"):
        cmd = [sys.executable, __file__, "--memory-worker", mode, "--base-url", base_url, "--calls", str(streams)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if out.returncode != 0:
            raise SystemExit(f"memory probe failed:\n{out.stderr[-2000:]}")
        result[mode] = float(out.stdout.strip().splitlines()[-1])
    return result


def _import_time(module: str, repeats: int = 9) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--tokens", type=int, default=22, help="output tokens per reply (chunks ~ tokens + 3)")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--worker")
    parser.add_argument("--memory-worker")
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.base_url, args.calls)))
        return
    if args.memory_worker:
        print(json.dumps(_memory_worker(args.memory_worker, args.base_url, args.calls)))
        return

    configs = [c for c in args.configs.split(",") if c != "bare"]
    if not configs:
        raise SystemExit("name at least one configuration besides bare")
    port = _free_port()
    sim = _start_simulator(port, args.tokens)
    base_url = f"http://127.0.0.1:{port}/v1"
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
    diffs: dict[str, dict[str, list[float]]] = {c: {"plain": [], "stream": [], "cpu": []} for c in configs}
    try:
        for r in range(args.rounds):
            order = configs if r % 2 == 0 else list(reversed(configs))
            for config in order:
                res = _run_worker(config, base_url, args.calls)
                results[config].append(res)
                diffs[config]["plain"].append(res["plain_us"] - res["bare_plain_us"])
                diffs[config]["stream"].append(res["stream_us"] - res["bare_stream_us"])
                diffs[config]["cpu"].append(res["cpu_us"] - res["bare_cpu_us"])
                print(f"round {r + 1}: {config:12s} +{diffs[config]['plain'][-1]:7.0f} us plain, "
                      f"+{diffs[config]['stream'][-1]:7.0f} us stream", file=sys.stderr, flush=True)  # fmt: skip
        memory = _stream_memory(base_url)
    finally:
        sim.terminate()
        sim.wait(timeout=10)

    every = [r for rs in results.values() for r in rs]
    bare_plain = statistics.median(r["bare_plain_us"] for r in every)
    bare_stream = statistics.median(r["bare_stream_us"] for r in every)
    chunks = every[0]["chunks"]
    print(f"\nopenai SDK chat calls on loopback, {args.rounds} rounds x {args.calls} calls, medians")
    print(f"bare SDK: {bare_plain:,.0f} us non-streamed, {bare_stream:,.0f} us streamed ({chunks} chunks)\n")
    bare_cpu = statistics.median(r["bare_cpu_us"] for r in every)
    print(f"bare SDK CPU per (non-streamed + streamed) call pair: {bare_cpu:,.0f} us\n")
    print(f"{'config':14s} {'added, plain':>14s} {'added, stream':>14s} {'per chunk*':>11s} "
          f"{'added CPU/pair':>15s} {'plain vs rw':>12s}")  # fmt: skip
    rw_plain = statistics.median(diffs["routewatch"]["plain"]) if "routewatch" in diffs else None
    for config in configs:
        plain = statistics.median(diffs[config]["plain"])
        stream = statistics.median(diffs[config]["stream"])
        per_chunk = (stream - plain) / chunks if chunks else float("nan")
        ratio = f"{plain / rw_plain:.1f}x" if rw_plain and rw_plain > 0 else "-"
        added_cpu = statistics.median(diffs[config]["cpu"])
        print(f"{config:14s} {plain:+13,.0f}us {stream:+13,.0f}us {per_chunk:+10.1f}us "
              f"{added_cpu:+14,.0f}us {ratio:>12s}")  # fmt: skip
    print("* (streamed added - non-streamed added) / chunks")
    added = memory["routewatch"] - memory["bare"]
    print(f"\nmemory per in-flight stream: {memory['bare'] / 1024:.1f} KiB bare, "
          f"{memory['routewatch'] / 1024:.1f} KiB with routewatch (+{added / 1024:.1f} KiB)")  # fmt: skip
    print(f"import routewatch: {_import_time('routewatch') * 1e3:.0f} ms "
          f"(python -c pass: {_import_time('sys') * 1e3:.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
