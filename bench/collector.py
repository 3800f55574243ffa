"""Collector ingest benchmark: OTLP/gRPC GenAI spans end to end, against a ceiling measured in the same run.

Payloads: export requests of 512 GenAI spans of ~600 bytes (the convention's chat-span attributes plus
routewatch's stream and cost extras) spread over 1,000 provider/model streams. Per round, alternating:

  ceiling     a process pinned to the server's core decodes the same payloads with protobuf and reads
              every span's attributes into a dict (the straightforward Python OTLP receiver); raw
              protobuf decode alone is printed beside it
  convert     the same process: `records_from_bytes` (the collector's span -> CallRecord path)
  end to end  a collector process pinned to that core (`taskset`), this process pinned to the other
              one sending the payloads over OTLP/gRPC with 2 requests in flight, honouring
              RESOURCE_EXHAUSTED + RetryInfo; the clock stops when the collector has put every span
              through the drift monitor and its outputs (recent figures, fleet verdicts). Every
              stream's detectors are past their warm-up (restored from a snapshot of a stream that saw
              2,100 calls like these), as in a collector that has run for a while. Also timed without
              the outputs, and with neither outputs nor detectors (a no-op monitor), to split the cost.

Then: memory per 1,000 live streams (tracemalloc; the whole collector with outputs), both past warm-up
and at the warm-up peak (every continuous detector holding its 999 warm-up values), and a paced run at
70% of the measured end-to-end rate checking that no span is lost or refused. Medians over rounds.
Exits 1 when a target is missed. Bounded: ~2-3 minutes with the defaults.

    python bench/collector.py             # 3 rounds
    python bench/collector.py --quick     # 1 round, fewer requests
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
TARGET_SPANS_PER_S = 50_000
TARGET_SHARE_OF_CEILING = 0.40
TARGET_MB_PER_1000 = 20.0
STEADY_CALLS = 2_100  # past every detector's warm-up (continuous 1,000, rates 2,000)


# --- payloads ----------------------------------------------------------------------------------------------
def make_requests(n_requests: int, spans: int, streams: int, seed: int = 7) -> list[bytes]:
    """Serialized ExportTraceServiceRequests of GenAI spans (~600 bytes each, as the issue sizes them:
    the convention's chat-span attributes plus routewatch's stream and cost extras), streams round-robin."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    rng = random.Random(seed)
    out = []
    k = 0
    for _ in range(n_requests):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        for key, value in (("service.name", "checkout"), ("telemetry.sdk.language", "python")):
            kv = resource_spans.resource.attributes.add()
            kv.key, kv.value.string_value = key, value
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name, scope_spans.scope.version = "routewatch", "0.1.0"
        for _ in range(spans):
            stream = k % streams
            k += 1
            model = f"model-{stream}"
            span = scope_spans.spans.add()
            span.trace_id, span.span_id = rng.randbytes(16), rng.randbytes(8)
            span.name, span.kind = f"chat {model}", 3
            span.start_time_unix_nano = 1_700_000_000_000_000_000 + k * 1_000_000
            duration = 0.6 * rng.lognormvariate(0, 0.25)
            span.end_time_unix_nano = span.start_time_unix_nano + int(duration * 1e9)
            out_tokens = rng.randint(10, 40)
            for key, field, value in (
                ("gen_ai.operation.name", "string_value", "chat"),
                ("gen_ai.provider.name", "string_value", "openai"),
                ("gen_ai.request.model", "string_value", model),
                ("gen_ai.request.stream", "bool_value", True),
                ("server.address", "string_value", "api.openai.com"),
                ("server.port", "int_value", 443),
                ("gen_ai.response.id", "string_value", f"chatcmpl-{rng.getrandbits(96):024x}"),
                ("gen_ai.response.model", "string_value", model),
                ("gen_ai.usage.input_tokens", "int_value", rng.randint(20, 200)),
                ("gen_ai.usage.output_tokens", "int_value", out_tokens),
                ("gen_ai.response.time_to_first_chunk", "double_value", duration / 4),
                ("routewatch.cost.usd", "double_value", round(out_tokens * 6e-7, 9)),
                ("routewatch.cost.priced", "bool_value", True),
                ("routewatch.stream.output_chunks", "int_value", out_tokens),
            ):
                kv = span.attributes.add()
                kv.key = key
                setattr(kv.value, field, value)
            kv = span.attributes.add()
            kv.key = "gen_ai.response.finish_reasons"
            kv.value.array_value.values.add().string_value = "stop"
        out.append(request.SerializeToString())
    return out


def write_payloads(path: Path, payloads: list[bytes]) -> None:
    with path.open("wb") as handle:
        for body in payloads:
            handle.write(struct.pack(">I", len(body)))
            handle.write(body)


def read_payloads(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return out


def records_for_stream(calls: int, seed: int) -> list[Any]:
    """`calls` CallRecords of one stream (model-0), drawn like the payloads."""
    from routewatch.otlp.wire import records_from_bytes

    payloads = make_requests(-(-calls // 512), 512, 1, seed=seed)
    return [r for body in payloads for r in records_from_bytes(body).records][:calls]


def steady_snapshot(path: Path, streams: int) -> None:
    """A collector snapshot in which each of `streams` streams has detectors past warm-up."""
    from routewatch.collector.config import default_monitor_config
    from routewatch.collector.snapshot import FORMAT, VERSION
    from routewatch.drift.monitor import DriftMonitor

    monitor = DriftMonitor(default_monitor_config(), sinks=[])
    for record in records_for_stream(STEADY_CALLS, seed=5):
        monitor.record(record)
    drift = monitor.snapshot()
    (template,) = drift["streams"]
    drift["streams"] = []
    for i in range(streams):
        stream = copy.deepcopy(template)
        stream["key"]["model"] = f"model-{i}"
        drift["streams"].append(stream)
    body = {"format": FORMAT, "version": VERSION, "saved_at": time.time(), "drift": drift, "parts": {}}
    path.write_text(json.dumps(body, separators=(",", ":")))


# --- role: ceiling (runs pinned to the server core) ----------------------------------------------------------
def role_ceiling(payload_file: Path, seconds: float) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from routewatch.otlp.wire import records_from_bytes
    from routewatch.pricing import PriceBook

    payloads = read_payloads(payload_file)
    book = PriceBook()

    def raw(body: bytes) -> int:
        request = ExportTraceServiceRequest.FromString(body)
        return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)

    def ceiling(body: bytes) -> int:
        n = 0
        for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attributes = {}
                    for kv in span.attributes:
                        value = kv.value
                        which = value.WhichOneof("value")
                        attributes[kv.key] = getattr(value, which) if which is not None else None
                    n += 1
        return n

    def convert(body: bytes) -> int:
        return len(records_from_bytes(body, prices=book).records)

    # Interleaved in short slices, so each figure sees the same share of a busy machine.
    fns = {"raw": raw, "ceiling": ceiling, "convert": convert}
    spans = dict.fromkeys(fns, 0)
    took = dict.fromkeys(fns, 0.0)
    for fn in fns.values():
        fn(payloads[0])  # warm caches
    i = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for name, fn in fns.items():
            start = time.perf_counter()
            spans[name] += fn(payloads[i % len(payloads)])
            took[name] += time.perf_counter() - start
        i += 1
    result = {name: spans[name] / took[name] for name in fns}
    print(json.dumps(result), flush=True)


# --- role: server --------------------------------------------------------------------------------------------
class _NoDetectors:
    """Stands in for the DriftMonitor to time ingest alone."""

    config: Any = None

    def record(self, call: Any) -> list[Any]:
        return []

    def state(self) -> dict[str, Any]:
        return {}


def role_server(detectors: bool, capacity: int, snapshot: Path | None, outputs: bool) -> None:
    from routewatch.collector import Collector, CollectorConfig

    config = CollectorConfig(
        grpc_port=0, http_port=0, queue_capacity=capacity, retry_after_s=0.05, log_level="ERROR",
        snapshot_path=snapshot, snapshot_interval_s=3600,
    )  # fmt: skip
    monitor: Any = None if detectors else _NoDetectors()
    collector = Collector(config, monitor=monitor, outputs=outputs).start()
    print(json.dumps({"grpc": collector.grpc_target, "http": collector.http_url}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    if collector.snapshots is not None:
        collector.snapshots = None  # the copy of the snapshot is the parent's; no need to write it back
    collector.stop(timeout_s=60)


# --- client --------------------------------------------------------------------------------------------------
def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def _start(args: list[str], core: int | None) -> subprocess.Popen[str]:
    prefix = ["taskset", "-c", str(core)] if core is not None else []
    return subprocess.Popen(
        [*prefix, sys.executable, __file__, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip


def _healthz(url: str, streams: bool = False) -> dict[str, Any]:
    query = "?verbose=1&streams=1" if streams else "?verbose=1"
    with urllib.request.urlopen(url + "/healthz" + query, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def send_all(target: str, payloads: list[bytes], *, in_flight: int = 2, pace_spans_per_s: float | None = None,
             spans_per_request: int = 512) -> dict[str, Any]:  # fmt: skip
    """Send every payload once (retrying refused ones after the server's RetryInfo delay)."""
    import grpc
    from google.rpc import error_details_pb2

    channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)])
    export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
    lock = threading.Lock()
    queue = list(range(len(payloads)))
    stats = {"retries": 0, "failures": 0}
    start = time.perf_counter()
    interval = spans_per_request / pace_spans_per_s if pace_spans_per_s else 0.0
    issued = [0]

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                index = queue.pop(0)
                slot = issued[0]
                issued[0] += 1
            if interval:
                delay = start + slot * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            for _attempt in range(1000):
                try:
                    export(payloads[index], timeout=30)
                    break
                except grpc.RpcError as error:
                    if error.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED:
                        with lock:
                            stats["failures"] += 1
                        break
                    trailers = dict(error.trailing_metadata() or ())
                    info = error_details_pb2.RetryInfo.FromString(trailers.get("google.rpc.retryinfo-bin", b""))
                    with lock:
                        stats["retries"] += 1
                    time.sleep(info.retry_delay.ToTimedelta().total_seconds() or 0.05)

    threads = [threading.Thread(target=worker) for _ in range(in_flight)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    channel.close()
    return {**stats, "sent_s": time.perf_counter() - start, "start": start}


def _drained(http: str, total: int, failed: bool) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        health = _healthz(http)
        if health["records_processed"] >= health["spans_accepted"] >= total:
            return health
        if time.monotonic() > deadline or failed:
            return health
        time.sleep(0.02)


def run_end_to_end(
    payloads: list[bytes], spans: int, *, detectors: bool, server_core: int | None, pace: float | None = None,
    capacity: int = 100_000, warm: list[bytes] | None = None, snapshot: Path | None = None, outputs: bool = True,
) -> dict[str, Any]:  # fmt: skip
    role = ["--role", "server", "--detectors", str(int(detectors)), "--capacity", str(capacity),
            "--outputs", str(int(outputs))]  # fmt: skip
    if snapshot is not None:
        role += ["--snapshot", str(snapshot)]
    server = _start(role, server_core)
    warm = warm or []
    try:
        assert server.stdout is not None and server.stdin is not None
        addresses = json.loads(server.stdout.readline())
        warm_spans = len(warm) * spans
        if warm:  # every stream exists (its detectors allocated and calibrated) before the clock starts
            send_all(addresses["grpc"], list(warm), spans_per_request=spans)
            _drained(addresses["http"], warm_spans, False)
        total = len(payloads) * spans
        sent = send_all(addresses["grpc"], payloads, pace_spans_per_s=pace, spans_per_request=spans)
        health = _drained(addresses["http"], warm_spans + total, bool(sent["failures"]))
        elapsed = time.perf_counter() - sent["start"]
        return {
            "spans_per_s": total / elapsed, "accepted": health["spans_accepted"] - warm_spans, "sent": total,
            "processed": health["records_processed"] - warm_spans, "refused_requests": health["requests_rejected"],
            "dropped": health["spans_dropped"], "retries": sent["retries"], "failures": sent["failures"],
            "streams": _healthz(addresses["http"], streams=True).get("streams"),
        }  # fmt: skip
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(90)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


# --- memory ----------------------------------------------------------------------------------------------------
def _collector_bytes(feed: Any) -> tuple[int, int]:
    """(bytes a fresh collector with outputs holds after `feed(collector)`, live streams)."""
    from routewatch.collector import Collector, CollectorConfig

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    collector = Collector(CollectorConfig(grpc_port=0, http_port=0), outputs=True)
    if collector.outputs is None:
        raise SystemExit("the collector's outputs did not install; the memory figure would leave them out")
    feed(collector)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, len(collector.monitor.state())


def _feed(collector: Any, records: list[Any]) -> None:
    listeners = collector.ingest._listeners
    for record in records:
        collector.monitor.record(record)
        for listener in listeners:
            listener(record)


def _as_stream(record: Any, stream: int) -> Any:
    from dataclasses import replace

    model = f"model-{stream}"
    response = replace(record.response, response_model=model)
    return replace(record, request_model=model, response_model=model, response=response)


def memory_per_1000_streams(snapshot: Path, sizes: tuple[int, int], steady_calls: int) -> dict[str, float]:
    """MB the whole collector holds for 1,000 live streams, past warm-up (streams restored from the
    snapshot, then `steady_calls` calls each, so every recent-figures ring is full) and at the warm-up
    peak (999 calls each: every continuous detector holds its warm-up values). Measured at two stream
    counts; what each stream adds (the slope) times 1,000, plus what the collector holds anyway."""
    from routewatch.collector.snapshot import read_snapshot

    data = read_snapshot(snapshot)
    assert data is not None
    steady_calls_records = records_for_stream(steady_calls, seed=13)
    warm = records_for_stream(999, seed=17)
    out: dict[str, float] = {}
    _collector_bytes(lambda collector: _feed(collector, warm[:50]))  # one-time imports and caches, not counted
    for regime in ("steady", "peak"):
        measured = []
        for n in sizes:
            drift = {**data["drift"], "streams": data["drift"]["streams"][:n]}
            calls = steady_calls_records if regime == "steady" else warm
            records = [_as_stream(r, s) for r in calls for s in range(n)]

            def feed(collector: Any, drift: dict[str, Any] | None = drift if regime == "steady" else None,
                     records: list[Any] = records) -> None:  # fmt: skip
                if drift is not None:
                    collector.monitor.restore(drift)
                _feed(collector, records)

            held, live = _collector_bytes(feed)
            assert live == n, (live, n)
            measured.append(held)
        per_stream = (measured[1] - measured[0]) / (sizes[1] - sizes[0])
        fixed = measured[0] - per_stream * sizes[0]
        out[regime] = (fixed + 1000 * per_stream) / 1e6
        out[f"{regime}_per_stream_kb"] = per_stream / 1e3
    return out


# --- main ------------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=("ceiling", "server"))
    parser.add_argument("--payloads", type=Path)
    parser.add_argument("--snapshot", type=Path)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--detectors", type=int, default=1)
    parser.add_argument("--outputs", type=int, default=1)
    parser.add_argument("--capacity", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=24, help="512-span requests per end-to-end run")
    parser.add_argument("--spans", type=int, default=512)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.role == "ceiling":
        role_ceiling(args.payloads, args.seconds)
        return 0
    if args.role == "server":
        role_server(bool(args.detectors), args.capacity, args.snapshot, bool(args.outputs))
        return 0
    if args.quick:
        args.rounds, args.requests, args.seconds = 1, 12, 2.0

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_core, client_core = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    if client_core is not None:
        _pin(client_core)
    payloads = make_requests(args.requests, args.spans, args.streams)
    warm = make_requests(max(1, 2 * args.streams // args.spans), args.spans, args.streams, seed=3)
    span_bytes = sum(len(p) for p in payloads) / (len(payloads) * args.spans)
    print(f"payload: {len(payloads)} requests x {args.spans} spans, {span_bytes:.0f} bytes/span, "
          f"{args.streams} streams; server core {server_core}, client core {client_core}")  # fmt: skip
    try:
        load = os.getloadavg()[0]
        print(f"load average at start: {load:.1f} on {os.cpu_count()} cores (other work skews every figure)")
    except OSError:
        pass

    rows: dict[str, list[float]] = {k: [] for k in ("raw", "ceiling", "convert", "e2e", "no_outputs", "ingest_only")}
    lost = 0
    with tempfile.TemporaryDirectory() as tmp:
        payload_file = Path(tmp) / "payloads.bin"
        write_payloads(payload_file, payloads)
        snapshot = Path(tmp) / "steady.json"
        steady_snapshot(snapshot, args.streams)
        for r in range(args.rounds):
            ceiling = _start(["--role", "ceiling", "--payloads", str(payload_file), "--seconds", str(args.seconds)],
                             server_core)  # fmt: skip
            out, _ = ceiling.communicate(timeout=120)
            figures = json.loads(out.strip().splitlines()[-1])
            for key in ("raw", "ceiling", "convert"):
                rows[key].append(figures[key])
            runs = {
                "e2e": {"detectors": True, "snapshot": snapshot},
                "no_outputs": {"detectors": True, "snapshot": snapshot, "outputs": False},
                "ingest_only": {"detectors": False, "outputs": False},
            }
            results = {}
            for name, how in runs.items():
                results[name] = run_end_to_end(payloads, args.spans, server_core=server_core, warm=warm, **how)
                rows[name].append(results[name]["spans_per_s"])
                lost += results[name]["sent"] - results[name]["processed"]
            e2e = results["e2e"]
            print(f"round {r + 1}: ceiling {figures['ceiling']:,.0f}/s (raw decode {figures['raw']:,.0f}/s), "
                  f"convert {figures['convert']:,.0f}/s, end to end {e2e['spans_per_s']:,.0f}/s "
                  f"(refused requests {e2e['refused_requests']}, client retries {e2e['retries']}, "
                  f"{e2e['streams']} streams), without outputs {results['no_outputs']['spans_per_s']:,.0f}/s, "
                  f"no detectors {results['ingest_only']['spans_per_s']:,.0f}/s", flush=True)  # fmt: skip

        med = {k: statistics.median(v) for k, v in rows.items()}
        print()
        print(f"{'':44}{'spans/s (median)':>18}{'vs ceiling':>12}")
        for key, label in (
            ("raw", "raw protobuf decode"), ("ceiling", "ceiling: decode + attributes into a dict"),
            ("convert", "decode + convert to records"), ("ingest_only", "OTLP/gRPC ingest (no detectors, no outputs)"),
            ("no_outputs", "... + detectors (no outputs)"), ("e2e", "OTLP/gRPC end to end (the whole collector)"),
        ):  # fmt: skip
            print(f"{label:44}{med[key]:>18,.0f}{med[key] / med['ceiling']:>11.0%}")
        print(f"spans lost across all runs: {lost}")

        paced_rate = 0.7 * med["e2e"]
        n_paced = max(4, min(args.requests, int(paced_rate * 6 / args.spans)))
        paced = run_end_to_end(payloads[:n_paced], args.spans, detectors=True, server_core=server_core,
                               pace=paced_rate, capacity=4 * args.spans, warm=warm, snapshot=snapshot)  # fmt: skip
        print(f"paced at {paced_rate:,.0f} spans/s (70% of end to end, queue of {4 * args.spans}): "
              f"sent {paced['sent']}, processed {paced['processed']}, refused requests {paced['refused_requests']}, "
              f"dropped {paced['dropped']}")  # fmt: skip

        sizes = (10, 30) if args.quick else (25, 75)
        memory = memory_per_1000_streams(snapshot, sizes, steady_calls=250)
    print(
        f"memory per 1,000 live streams (whole collector with outputs, tracemalloc, from {sizes[0]} and "
        f"{sizes[1]} streams): past warm-up {memory['steady']:.1f} MB ({memory['steady_per_stream_kb']:.1f} KB "
        f"a stream); at the warm-up peak {memory['peak']:.1f} MB ({memory['peak_per_stream_kb']:.1f} KB a stream)"
    )
    print()
    checks = {
        f">= {TARGET_SPANS_PER_S:,} spans/s end to end": med["e2e"] >= TARGET_SPANS_PER_S,
        f">= {TARGET_SHARE_OF_CEILING:.0%} of the ceiling": med["e2e"] >= TARGET_SHARE_OF_CEILING * med["ceiling"],
        f"<= {TARGET_MB_PER_1000:.0f} MB per 1,000 streams": max(memory["steady"], memory["peak"])
        <= TARGET_MB_PER_1000,
        "no span lost below the advertised rate": lost == 0
        and paced["processed"] == paced["sent"]
        and not paced["refused_requests"]
        and not paced["dropped"],
    }
    print("targets: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks.items()))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
