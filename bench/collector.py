"""Collector ingest benchmark: OTLP/gRPC GenAI spans end to end, against a ceiling measured in the same run.

Payloads: export requests of 512 routewatch-style GenAI spans (the attributes routewatch's own spans
carry, ~850 bytes each) spread over 1,000 provider/model streams. Per round, alternating:

  ceiling     a process pinned to the server's core decodes the same payloads with protobuf and reads
              every span's attributes into a dict (what any Python OTLP receiver must at least do);
              raw protobuf decode alone is printed beside it
  convert     the same process: decode + `records_from_request` (routewatch's span -> CallRecord path)
  end to end  a collector process pinned to that core (`taskset`), this process pinned to the other
              one sending the payloads over OTLP/gRPC with 2 requests in flight, honouring
              RESOURCE_EXHAUSTED + RetryInfo; the clock stops when the collector has put every span
              through the drift monitor. Also run with the detectors replaced by a no-op, to split the
              cost between ingest and detection.

Then: memory per 1,000 live streams (tracemalloc, collector with every stream's detectors allocated),
and a paced run at 70% of the measured end-to-end rate checking that no span is lost or refused.
Medians over rounds. Bounded: ~1-2 minutes with the defaults.

    python bench/collector.py             # 3 rounds
    python bench/collector.py --quick     # 1 round, fewer requests
"""

from __future__ import annotations

import argparse
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


# --- payloads ----------------------------------------------------------------------------------------------
def make_requests(n_requests: int, spans: int, streams: int, seed: int = 7) -> list[bytes]:
    """Serialized ExportTraceServiceRequests of routewatch-style GenAI spans, streams round-robin."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    rng = random.Random(seed)
    out = []
    k = 0
    for _ in range(n_requests):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        kv = resource_spans.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", "checkout"
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name, scope_spans.scope.version = "routewatch", "0.1.0"
        for _ in range(spans):
            stream = k % streams
            k += 1
            span = scope_spans.spans.add()
            span.trace_id, span.span_id = rng.randbytes(16), rng.randbytes(8)
            span.name, span.kind = f"chat model-{stream}", 3
            span.start_time_unix_nano = 1_700_000_000_000_000_000 + k * 1_000_000
            duration = 0.6 * rng.lognormvariate(0, 0.25)
            span.end_time_unix_nano = span.start_time_unix_nano + int(duration * 1e9)
            out_tokens = rng.randint(10, 40)
            for key, field, value in (
                ("gen_ai.operation.name", "string_value", "chat"),
                ("gen_ai.provider.name", "string_value", "openai"),
                ("server.address", "string_value", "api.openai.com"),
                ("routewatch.api", "string_value", "openai.chat_completions"),
                ("server.port", "int_value", 443),
                ("gen_ai.request.model", "string_value", f"model-{stream}"),
                ("gen_ai.request.stream", "bool_value", True),
                ("openai.api.type", "string_value", "chat_completions"),
                ("routewatch.usage.known", "bool_value", True),
                ("routewatch.cost.priced", "bool_value", True),
                ("http.response.status_code", "int_value", 200),
                ("gen_ai.response.id", "string_value", f"chatcmpl-{rng.getrandbits(96):024x}"),
                ("gen_ai.response.model", "string_value", f"model-{stream}"),
                ("gen_ai.usage.input_tokens", "int_value", rng.randint(20, 200)),
                ("gen_ai.usage.output_tokens", "int_value", out_tokens),
                ("gen_ai.response.time_to_first_chunk", "double_value", duration / 4),
                ("routewatch.cost.usd", "double_value", 1.9e-5),
                ("routewatch.output_tokens_per_second", "double_value", out_tokens / (0.75 * duration)),
                ("routewatch.stream.completed", "bool_value", True),
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


# --- role: ceiling (runs pinned to the server core) ----------------------------------------------------------
def role_ceiling(payload_file: Path, seconds: float) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from routewatch.otlp.convert import _proto_value, records_from_request
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
                    {kv.key: _proto_value(kv.value) for kv in span.attributes}
                    n += 1
        return n

    def convert(body: bytes) -> int:
        return len(records_from_request(ExportTraceServiceRequest.FromString(body), prices=book).records)

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


def role_server(detectors: bool, capacity: int) -> None:
    from routewatch.collector import Collector, CollectorConfig

    config = CollectorConfig(grpc_port=0, http_port=0, queue_capacity=capacity, retry_after_s=0.05, log_level="ERROR")
    monitor: Any = None if detectors else _NoDetectors()
    collector = Collector(config, monitor=monitor, outputs=False).start()
    print(json.dumps({"grpc": collector.grpc_target, "http": collector.http_url}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
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
    capacity: int = 100_000, warm: list[bytes] | None = None,
) -> dict[str, Any]:  # fmt: skip
    role = ["--role", "server", "--detectors", str(int(detectors)), "--capacity", str(capacity)]
    server = _start(role, server_core)
    warm = warm or []
    try:
        assert server.stdout is not None and server.stdin is not None
        addresses = json.loads(server.stdout.readline())
        warm_spans = len(warm) * spans
        if warm:  # every stream exists (its detectors allocated) before the clock starts
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
def memory_per_1000_streams(streams: int, calls_per_stream: int, outputs: bool) -> dict[str, Any]:
    """Bytes the collector holds for `streams` live streams (tracemalloc), scaled to 1,000 streams."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from routewatch.collector import Collector, CollectorConfig
    from routewatch.otlp.convert import records_from_request

    payloads = make_requests(max(1, streams * calls_per_stream // 512), 512, streams, seed=11)
    batches = [records_from_request(ExportTraceServiceRequest.FromString(p)).records for p in payloads]
    collector = Collector(CollectorConfig(grpc_port=0, http_port=0), outputs=outputs)
    installed = collector.outputs is not None
    listeners = collector.ingest._listeners
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for batch in batches:
        for record in batch:
            collector.monitor.record(record)
            for listener in listeners:
                listener(record)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    live = len(collector.monitor.state())
    return {"streams": live, "mb_per_1000": (after - before) / 1e6 * 1000 / max(1, live), "outputs": installed}


# --- main ------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=("ceiling", "server"))
    parser.add_argument("--payloads", type=Path)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--detectors", type=int, default=1)
    parser.add_argument("--capacity", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=24, help="512-span requests per end-to-end run")
    parser.add_argument("--spans", type=int, default=512)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.role == "ceiling":
        role_ceiling(args.payloads, args.seconds)
        return
    if args.role == "server":
        role_server(bool(args.detectors), args.capacity)
        return
    if args.quick:
        args.rounds, args.requests, args.seconds = 1, 10, 2.0

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

    rows: dict[str, list[float]] = {"raw": [], "ceiling": [], "convert": [], "e2e": [], "ingest_only": []}
    lost = 0
    with tempfile.TemporaryDirectory() as tmp:
        payload_file = Path(tmp) / "payloads.bin"
        write_payloads(payload_file, payloads)
        for r in range(args.rounds):
            ceiling = _start(["--role", "ceiling", "--payloads", str(payload_file), "--seconds", str(args.seconds)],
                             server_core)  # fmt: skip
            out, _ = ceiling.communicate(timeout=120)
            figures = json.loads(out.strip().splitlines()[-1])
            for key in ("raw", "ceiling", "convert"):
                rows[key].append(figures[key])
            e2e = run_end_to_end(payloads, args.spans, detectors=True, server_core=server_core, warm=warm)
            rows["e2e"].append(e2e["spans_per_s"])
            lost += e2e["sent"] - e2e["processed"]
            ingest = run_end_to_end(payloads, args.spans, detectors=False, server_core=server_core, warm=warm)
            rows["ingest_only"].append(ingest["spans_per_s"])
            lost += ingest["sent"] - ingest["processed"]
            print(f"round {r + 1}: ceiling {figures['ceiling']:,.0f}/s (raw decode {figures['raw']:,.0f}/s), "
                  f"convert {figures['convert']:,.0f}/s, end to end {e2e['spans_per_s']:,.0f}/s "
                  f"(refused requests {e2e['refused_requests']}, client retries {e2e['retries']}, "
                  f"{e2e['streams']} streams), ingest without detectors {ingest['spans_per_s']:,.0f}/s",
                  flush=True)  # fmt: skip

    med = {k: statistics.median(v) for k, v in rows.items()}
    print()
    print(f"{'':32}{'spans/s (median)':>18}{'vs ceiling':>12}")
    for key, label in (("raw", "raw protobuf decode"), ("ceiling", "ceiling: decode + attributes"),
                       ("convert", "decode + convert to records"), ("ingest_only", "OTLP/gRPC ingest, no detectors"),
                       ("e2e", "OTLP/gRPC end to end")):  # fmt: skip
        print(f"{label:32}{med[key]:>18,.0f}{med[key] / med['ceiling']:>11.0%}")
    print(f"spans lost across all runs: {lost}")

    paced_rate = 0.7 * med["e2e"]
    n_paced = max(4, min(args.requests, int(paced_rate * 6 / args.spans)))
    paced = run_end_to_end(payloads[:n_paced], args.spans, detectors=True, server_core=server_core,
                           pace=paced_rate, capacity=4 * args.spans, warm=warm)  # fmt: skip
    print(f"paced at {paced_rate:,.0f} spans/s (70% of end to end, queue of {4 * args.spans}): "
          f"sent {paced['sent']}, processed {paced['processed']}, refused requests {paced['refused_requests']}, "
          f"dropped {paced['dropped']}")  # fmt: skip

    calls = 60 if not args.quick else 30
    detectors_only = memory_per_1000_streams(args.streams, calls, outputs=False)
    memory = memory_per_1000_streams(args.streams, calls, outputs=True)
    print(f"memory per 1,000 live streams ({detectors_only['streams']} streams, {calls} calls each, every signal's "
          f"detector allocated): drift monitor {detectors_only['mb_per_1000']:.1f} MB; whole collector "
          f"{memory['mb_per_1000']:.1f} MB (outputs {'installed' if memory['outputs'] else 'missing'})")  # fmt: skip
    print()
    print(
        f"targets: >= 50,000 spans/s end to end: {'met' if med['e2e'] >= 50_000 else 'NOT met'}; "
        f">= 40% of ceiling: {'met' if med['e2e'] >= 0.4 * med['ceiling'] else 'NOT met'}; "
        f"<= 20 MB per 1,000 streams: whole collector {'met' if memory['mb_per_1000'] <= 20 else 'NOT met'}, "
        f"drift monitor {'met' if detectors_only['mb_per_1000'] <= 20 else 'NOT met'}; "
        f"no loss below the advertised rate: "
        f"{'met' if paced['processed'] == paced['sent'] and not paced['refused_requests'] else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
