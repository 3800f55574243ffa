"""CPU work each instrumentation adds per call, counted in instructions: repeatable on a noisy machine.

Wall-time medians on this shared 2-core machine move by hundreds of microseconds between runs
(`bench/overhead.py` reports them). Instruction counts do not: valgrind's callgrind counts every
instruction the client process executes, in every thread (span processors and routewatch's
signal-bus worker included), whatever else the machine does. Each configuration runs twice, with
`--short` and `--long` calls; the difference divided by the extra calls is the per-call count, with
start-up and imports cancelled out. The simulator runs outside valgrind, in its own process.

Kinds: `plain` (non-streamed), `stream` (every reply token streamed, ~25 chunks) and `stream5` (the
same request capped by `max_tokens` to ~5 chunks). The per-chunk cost is the difference between
`stream` and `stream5` divided by the difference in chunks, so the fixed per-call cost cancels out.

Configuration `sdk-floor` makes, after each bare call, the span and metric points routewatch
records for that call, straight through the SDK and with nothing else: the share of any
instrumentation's cost that is the OpenTelemetry SDK's for that much telemetry.

    python bench/instructions.py                         # all configurations, ~25 minutes
    python bench/instructions.py --quick                 # bare, openai-v2, routewatch; ~8 minutes
    python bench/instructions.py --configs bare,routewatch --kinds plain
"""

from __future__ import annotations

import argparse
import gc
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead as ov

CONFIGS = ("bare", "httpx2", "openai-v2", "openllmetry", "routewatch", "sdk-floor")
KINDS = ("plain", "stream", "stream5")
QUICK_CONFIGS = ("bare", "openai-v2", "routewatch")
SHORT_STREAM_TOKENS = 2
_REFS = re.compile(r"Collected\s*:\s*(\d+)")
_SUMMARY = re.compile(r"^(?:summary|totals):\s*(\d+)", re.MULTILINE)


def _worker(config: str, base_url: str, calls: int, kind: str, collect: bool = True) -> None:
    ov._providers()
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    telemetry = None
    if config == "sdk-floor":
        telemetry = _sdk_telemetry_of_one_call(client, kind)
    elif config != "bare":
        enable, _ = ov._switch(config)
        enable()
    if not collect:
        # Garbage collections run on whichever thread crosses the allocation threshold, so with a
        # worker thread they move between threads and runs; off, the counts are the work itself.
        gc.collect()
        gc.disable()
    for _ in range(calls):
        if kind == "plain":
            client.chat.completions.create(model="gpt-4o-mini", messages=ov.MESSAGES)
        else:
            _stream(client, kind)
        if telemetry is not None:
            telemetry()
    if config == "routewatch":
        import routewatch

        routewatch.flush()


def _sdk_telemetry_of_one_call(client: Any, kind: str) -> Any:
    """What the OpenTelemetry SDK alone costs for the telemetry routewatch records per call.

    One call made with routewatch on shows the span (name, the attributes given at start, the rest)
    and the metric points it records; routewatch is then switched off, and the function returned
    makes that same span and those same points through the same SDK providers, with none of
    routewatch's own work (no parsing, pricing, record or queue): the floor under any instrumentation
    that records this much.
    """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor

    import routewatch
    from routewatch import semconv as sc
    from routewatch.metrics import CallMetrics

    spans: list[Any] = []
    given_at_start: list[dict[str, Any]] = []
    records: list[Any] = []

    class Keep(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            if not given_at_start:
                given_at_start.append(dict(span.attributes))

        def on_end(self, span: Any) -> None:
            if not spans:
                spans.append(span)

    trace.get_tracer_provider().add_span_processor(Keep())  # type: ignore[attr-defined]
    routewatch.add_listener(records.append)
    routewatch.instrument()
    if kind == "plain":
        client.chat.completions.create(model="gpt-4o-mini", messages=ov.MESSAGES)
    else:
        _stream(client, kind)
    routewatch.flush()
    routewatch.uninstrument()
    routewatch.remove_listener(records.append)
    span, record, start = spans[0], records[0], given_at_start[0]
    rest = {k: v for k, v in span.attributes.items() if k not in start}
    metrics = CallMetrics()
    attrs = metrics.attributes(record)
    points = [(metrics.duration, record.duration_s, attrs)]
    for token_type, count in (("input", record.usage.input_tokens), ("output", record.usage.output_tokens)):
        if count is not None:
            points.append((metrics.tokens, count, {**attrs, sc.GEN_AI_TOKEN_TYPE: token_type}))
    if record.time_to_first_chunk_s is not None:
        points.append((metrics.ttfc, record.time_to_first_chunk_s, attrs))
    if record.chunk_intervals_s:
        points.append((metrics.tpoc, sum(record.chunk_intervals_s) / len(record.chunk_intervals_s), attrs))
    tracer = trace.get_tracer("sdk-floor")
    name, kind_ = span.name, span.kind

    def telemetry() -> None:
        made = tracer.start_span(name, kind=kind_, attributes=start)
        made.set_attributes(rest)
        made.end()
        for histogram, value, point_attrs in points:
            histogram.record(value, point_attrs)

    print(f"sdk-floor/{kind}: a span with {len(start)} + {len(rest)} attributes, {len(points)} metric points",
          file=sys.stderr)  # fmt: skip
    return telemetry


def _stream(client: Any, kind: str) -> int:
    """One streamed call read to its end; the number of chunks the app received."""
    extra = {"max_tokens": SHORT_STREAM_TOKENS} if kind == "stream5" else {}
    n = 0
    for _chunk in client.chat.completions.create(
        model="gpt-4o-mini", messages=ov.MESSAGES, stream=True, stream_options={"include_usage": True}, **extra
    ):
        n += 1
    return n


def _chunks(base_url: str) -> dict[str, int]:
    """Chunks per streamed call of each kind, counted once outside valgrind."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    return {kind: _stream(client, kind) for kind in ("stream", "stream5")}


def _count(config: str, base_url: str, calls: int, kind: str, collect: bool = True) -> tuple[int, int]:
    """(instructions in all threads, instructions on the app's main thread)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            "valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={tmp}/out",
            sys.executable, __file__, "--worker", config, "--base-url", base_url,
            "--calls", str(calls), "--kinds", kind, *(() if collect else ("--no-gc",)),
        ]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        match = _REFS.search(out.stderr)
        if out.returncode != 0 or match is None:
            raise SystemExit(f"{config}/{kind} failed:\n{out.stderr[-2000:]}")
        main = _SUMMARY.search(Path(tmp, "out-01").read_text())
    return int(match.group(1)), int(main.group(1)) if main else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_CONFIGS)}")
    parser.add_argument("--short", type=int, default=10)
    parser.add_argument("--long", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=22)
    parser.add_argument("--no-gc", action="store_true", help="count with the garbage collector off")
    parser.add_argument("--worker")
    parser.add_argument("--base-url")
    parser.add_argument("--calls", type=int)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.base_url, args.calls, args.kinds, collect=not args.no_gc)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    configs = list(QUICK_CONFIGS) if args.quick else args.configs.split(",")
    kinds = args.kinds.split(",")
    port = ov._free_port()
    sim = ov._start_simulator(port, args.tokens)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
            pass
        chunks = _chunks(base_url)
        jobs = [(c, k, n) for c in configs for k in kinds for n in (args.short, args.long)]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            runs = pool.map(lambda j: _count(j[0], base_url, j[2], j[1], not args.no_gc), jobs)
            counts = dict(zip(jobs, runs, strict=True))
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    extra = args.long - args.short
    per_call = {
        (c, k): (counts[(c, k, args.long)][0] - counts[(c, k, args.short)][0]) / extra for c in configs for k in kinds
    }
    on_main = {
        (c, k): (counts[(c, k, args.long)][1] - counts[(c, k, args.short)][1]) / extra for c in configs for k in kinds
    }
    print(f"instructions per openai SDK chat call (callgrind; {extra} calls; {time.monotonic() - started:.0f} s)")
    for c, k in per_call:
        print(f"absolute {c}/{k}: {per_call[(c, k)]:,.0f} all threads, {on_main[(c, k)]:,.0f} app thread")
    print("all threads, and on the app's own thread (what delays the caller)\n")
    print(f"{'config':14s}" + "".join(f" {k + ' total':>13s} {'added':>9s} {'on app thread':>14s}" for k in kinds))
    for config in configs:
        row = f"{config:14s}"
        for kind in kinds:
            total = per_call[(config, kind)]
            added = total - per_call.get(("bare", kind), total)
            main_added = on_main[(config, kind)] - on_main.get(("bare", kind), on_main[(config, kind)])
            row += f" {total / 1e6:12.2f}M {added / 1e6:+8.3f}M {main_added / 1e6:+13.3f}M"
        print(row)
    if "routewatch" in configs and "bare" in configs:
        print()
        for kind in kinds:
            rw = on_main[("routewatch", kind)] - on_main[("bare", kind)]
            for config in configs:
                if config in ("bare", "routewatch") or rw <= 0:
                    continue
                other = on_main[(config, kind)] - on_main[("bare", kind)]
                print(f"{kind}: on the app's thread, {config} adds {other / rw:.2f}x what routewatch adds")
    if "stream" in kinds and "stream5" in kinds and chunks["stream"] > chunks["stream5"]:
        span = chunks["stream"] - chunks["stream5"]
        print(f"\nper streamed chunk ((stream - stream5) / {span} chunks; {chunks['stream']} vs {chunks['stream5']})")
        for config in configs:
            total = (per_call[(config, "stream")] - per_call[(config, "stream5")]) / span
            main_thread = (on_main[(config, "stream")] - on_main[(config, "stream5")]) / span
            line = f"{config:14s} {total:10,.0f} all threads {main_thread:10,.0f} app thread"
            if "bare" in configs and config != "bare":
                bare_total = (per_call[("bare", "stream")] - per_call[("bare", "stream5")]) / span
                bare_main = (on_main[("bare", "stream")] - on_main[("bare", "stream5")]) / span
                line += f"   added {total - bare_total:+9,.0f} all threads {main_thread - bare_main:+9,.0f} app thread"
            print(line)


if __name__ == "__main__":
    main()
