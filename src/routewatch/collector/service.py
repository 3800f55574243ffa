"""The routewatch collector service: OTLP in (gRPC and HTTP, from any number of apps), call records
through one `DriftMonitor`, detector state kept across restarts, outputs served over HTTP.

How the output side plugs in (engineer C2; `outputs.install_outputs(collector, config)` is called
from `Collector.__init__` unless `outputs=False`):

    collector.monitor                      the DriftMonitor: `subscribe(cb)` for alarms, `state()` at scrape
    collector.add_record_listener(fn)      `fn(record)` on the ingest worker, after `monitor.record(record)`;
                                           keep it cheap, it runs for every accepted call
    collector.ingest_stats()               an `IngestStats` copy: spans_received{protocol}, spans_accepted,
                                           spans_skipped, spans_dropped{reason}, requests_rejected{(protocol,
                                           reason)}, queue_depth, queue_capacity (+ records_processed,
                                           worker_errors, spans_without_duration). Protocols: grpc,
                                           http/protobuf, http/json, http.
                                           Reasons: queue_full, convert_error / malformed, unauthorized,
                                           overloaded, too_large.
    collector.routes.add(method, path, handler, public=False)   or  routes.add_all({(method, path): handler})
                                           handler(request) -> response; see http_server.py (streamed bodies,
                                           `request.stop`, auth: routes are private when a token is set)
    collector.add_closer(fn)               `fn()` at stop, after the queue drained, before the final snapshot
    collector.snapshots                    None, or `Snapshots`: `.add_part(name, save, restore)` to persist more
    collector.config.outputs               the raw `outputs:` mapping of the YAML config

Run it with `python -m routewatch.collector` or `routewatch collector` (both call `main(argv)`).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ..drift.monitor import DriftMonitor
from ..drift.sinks import LogSink
from ..pricing import PriceBook, load_price_overrides
from ..records import CallRecord
from .auth import BearerAuth, server_ssl_context
from .config import DEFAULT_GRPC_PORT, DEFAULT_HOST, DEFAULT_HTTP_PORT, CollectorConfig, load_config
from .grpc_server import GRPCServer, TraceService
from .http_server import HTTPServer, Request, RouteTable, json_response
from .ingest import PROTOCOL_HTTP, PROTOCOL_HTTP_JSON, PROTOCOL_HTTP_PROTOBUF, Ingest, IngestStats, otlp_http_handler
from .snapshot import Snapshots

__all__ = ["Collector", "main"]

log = logging.getLogger("routewatch.collector")


class Collector:
    """One collector: build it, `start()`, `stop()` (or use it as a context manager)."""

    def __init__(
        self, config: CollectorConfig | None = None, *, monitor: DriftMonitor | None = None,
        prices: PriceBook | None = None, meter_provider: Any = None, outputs: bool = True,
    ) -> None:  # fmt: skip
        self.config = cfg = config or CollectorConfig()
        self.meter_provider = meter_provider
        # Alarms are logged here; metrics, alerts and the health feed come from the output side.
        self.monitor = monitor or DriftMonitor(cfg.monitor, meter_provider=meter_provider, sinks=[LogSink()])
        if prices is None:
            overrides = load_price_overrides(cfg.price_overrides_file) if cfg.price_overrides_file else None
            prices = PriceBook.from_env(overrides=overrides)
        self.prices = prices
        self.ingest = Ingest(self.monitor, capacity=cfg.queue_capacity, overload=cfg.overload, prices=prices)
        self.auth = BearerAuth(cfg.token())
        self.routes = RouteTable()
        self.snapshots = Snapshots(cfg.snapshot_path, self.monitor) if cfg.snapshot_path is not None else None
        self.started_at: float | None = None
        self._closers: list[Callable[[], Any]] = []
        self._http: HTTPServer | None = None
        self._grpc: GRPCServer | None = None
        self._snapshot_stop = threading.Event()
        self._snapshot_thread: threading.Thread | None = None
        self._running = False
        self.routes.add(
            "POST", "/v1/traces",
            otlp_http_handler(self.ingest, max_body_bytes=cfg.http_max_body_bytes, retry_after_s=cfg.retry_after_s),
        )  # fmt: skip
        self.routes.add("GET", "/healthz", self._healthz, public=True)
        self.outputs: Any = None
        if outputs:
            self._install_outputs()

    # --- hooks for the output side --------------------------------------------------------------------
    def add_record_listener(self, listener: Callable[[CallRecord], Any]) -> None:
        self.ingest.add_listener(listener)

    def remove_record_listener(self, listener: Callable[[CallRecord], Any]) -> None:
        self.ingest.remove_listener(listener)

    def ingest_stats(self) -> IngestStats:
        return self.ingest.stats()

    def add_closer(self, closer: Callable[[], Any]) -> None:
        self._closers.append(closer)

    # --- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> Collector:
        """Restore the snapshot, start the worker, the servers and the snapshot timer."""
        if self._running:
            return self
        cfg = self.config
        if self.snapshots is not None:
            self.snapshots.restore()
        self.ingest.start()
        try:
            if cfg.http_port is not None:
                context = (
                    server_ssl_context(cfg.tls_cert_file, cfg.tls_key_file, cfg.tls_client_ca_file)
                    if cfg.tls_cert_file is not None and cfg.tls_key_file is not None
                    else None
                )
                self._http = HTTPServer(
                    self.routes, cfg.host, cfg.http_port, auth=self.auth, ssl_context=context,
                    max_body_bytes=cfg.http_max_body_bytes, idle_timeout_s=cfg.http_idle_timeout_s,
                    on_reject=self._http_rejected,
                )  # fmt: skip
                self._http.start()
            if cfg.grpc_port is not None:
                tls = None
                client_ca = None
                if cfg.tls_cert_file is not None and cfg.tls_key_file is not None:
                    tls = (cfg.tls_key_file.read_bytes(), cfg.tls_cert_file.read_bytes())
                    client_ca = cfg.tls_client_ca_file.read_bytes() if cfg.tls_client_ca_file else None
                service = TraceService(
                    self.ingest, self.auth, cfg.retry_after_s, max_message_bytes=cfg.grpc_max_message_bytes
                )
                self._grpc = GRPCServer(
                    service, cfg.host, cfg.grpc_port, workers=cfg.grpc_workers, tls=tls, client_ca=client_ca
                )
                self._grpc.start()
        except BaseException:
            self._stop_servers(0.0)
            self.ingest.stop(0.0)
            raise
        if self.snapshots is not None:
            self._snapshot_stop.clear()
            self._snapshot_thread = threading.Thread(
                target=self._snapshot_loop, name="routewatch-collector-snapshot", daemon=True
            )
            self._snapshot_thread.start()
        self.started_at = time.time()
        self._running = True
        log.info(
            "routewatch collector listening: OTLP/gRPC %s, HTTP %s%s",
            self.grpc_target or "off", self.http_url or "off", " (bearer token required)" if self.auth.enabled else "",
        )  # fmt: skip
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking spans, let the queue drain, close the outputs, write the final snapshot."""
        if not self._running:
            return
        self._running = False
        self._stop_servers(min(timeout_s, 5.0))
        if not self.ingest.stop(timeout_s):
            log.warning("routewatch collector: stopped with %d records not yet processed", self.ingest.depth)
        for closer in self._closers:
            try:
                closer()
            except Exception:
                log.exception("routewatch collector: closing %r failed", closer)
        self._snapshot_stop.set()
        if self._snapshot_thread is not None:
            self._snapshot_thread.join(5.0)
            self._snapshot_thread = None
        if self.snapshots is not None:
            self.snapshots.save()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every accepted span went through the monitor (tests, replay)."""
        return self.ingest.flush(timeout_s)

    # --- addresses --------------------------------------------------------------------------------------
    @property
    def grpc_port(self) -> int | None:
        return self._grpc.port if self._grpc is not None else None

    @property
    def http_port(self) -> int | None:
        return self._http.port if self._http is not None and self._http._server is not None else None

    @property
    def grpc_target(self) -> str | None:
        return self._grpc.target if self._grpc is not None else None

    @property
    def http_url(self) -> str | None:
        return self._http.url if self._http is not None and self._http._server is not None else None

    # --- internals ----------------------------------------------------------------------------------------
    def _install_outputs(self) -> None:
        try:
            from .outputs import OutputsConfig, install_outputs

            self.outputs = install_outputs(self, OutputsConfig.model_validate(self.config.outputs))
        except NotImplementedError:
            log.warning("routewatch collector: the output side is not available yet; serving ingest only")
        except ImportError as exc:
            log.warning("routewatch collector: outputs unavailable (%s); serving ingest only", exc)

    def _stop_servers(self, grace_s: float) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace_s)
            self._grpc = None
        if self._http is not None:
            self._http.stop(grace_s)
            self._http = None

    def _snapshot_loop(self) -> None:
        assert self.snapshots is not None
        while not self._snapshot_stop.wait(self.config.snapshot_interval_s):
            self.snapshots.save()

    def _http_rejected(self, request: Request, reason: str) -> None:
        if request.path != "/v1/traces":
            return
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        protocol = {"application/x-protobuf": PROTOCOL_HTTP_PROTOBUF, "application/json": PROTOCOL_HTTP_JSON}.get(
            content_type, PROTOCOL_HTTP
        )
        self.ingest.reject(protocol, reason)

    def _healthz(self, request: Request) -> Any:
        stats = self.ingest.stats()
        return json_response(
            200,
            {
                "status": "ok",
                "uptime_s": round(time.time() - self.started_at, 3) if self.started_at else 0.0,
                "queue_depth": stats.queue_depth,
                "queue_capacity": stats.queue_capacity,
                **(
                    {
                        "spans_accepted": stats.spans_accepted,
                        "records_processed": stats.records_processed,
                        "requests_rejected": sum(stats.requests_rejected.values()),
                        "spans_dropped": sum(stats.spans_dropped.values()),
                    }
                    if request.query.get("verbose")
                    else {}
                ),
                # Walks every detector under the monitor's lock: on request only.
                **({"streams": len(self.monitor.state())} if request.query.get("streams") else {}),
            },
            {"cache-control": "no-store"},
        )


# --- command line -----------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="routewatch collector",
        description="Receive OTLP traces from any number of apps, watch every provider/model for drift, and "
        "serve alarms, metrics and a health feed.",
    )
    p.add_argument("--config", "-c", type=Path, help="YAML config file (see collector/routewatch-collector.yaml)")
    p.add_argument("--host", help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument("--grpc-port", type=int, help=f"OTLP/gRPC port (default {DEFAULT_GRPC_PORT}; 0 = any free)")
    p.add_argument("--http-port", type=int, help=f"OTLP/HTTP + API port (default {DEFAULT_HTTP_PORT}; 0 = any free)")
    p.add_argument("--no-grpc", action="store_true", help="do not serve OTLP/gRPC")
    p.add_argument("--no-http", action="store_true", help="do not serve HTTP")
    p.add_argument("--queue-capacity", type=int, help="call records waiting for the detectors (default 100000)")
    p.add_argument("--overload", choices=("reject", "drop"), help="when the queue is full (default reject)")
    p.add_argument("--snapshot", type=Path, dest="snapshot_path", help="detector state file (kept across restarts)")
    p.add_argument("--snapshot-interval", type=float, dest="snapshot_interval_s", help="seconds between snapshots")
    p.add_argument("--auth-token-file", type=Path, help="file with the bearer token clients must send "
                   "(or set ROUTEWATCH_COLLECTOR_TOKEN)")  # fmt: skip
    p.add_argument("--tls-cert", type=Path, dest="tls_cert_file", help="PEM certificate: TLS on both servers")
    p.add_argument("--tls-key", type=Path, dest="tls_key_file", help="PEM private key for --tls-cert")
    p.add_argument("--tls-client-ca", type=Path, dest="tls_client_ca_file", help="require client certificates")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.add_argument("--print-config", action="store_true", help="print the effective config and exit")
    return p


def config_from_args(args: argparse.Namespace) -> CollectorConfig:
    overrides: dict[str, Any] = {
        name: getattr(args, name)
        for name in (
            "host", "grpc_port", "http_port", "queue_capacity", "overload", "snapshot_path", "snapshot_interval_s",
            "auth_token_file", "tls_cert_file", "tls_key_file", "tls_client_ca_file", "log_level",
        )
    }  # fmt: skip
    config = load_config(args.config, **overrides)
    if args.no_grpc or args.no_http:
        config = CollectorConfig.model_validate(
            {
                **config.model_dump(exclude_unset=True),
                **({"grpc_port": None} if args.no_grpc else {}),
                **({"http_port": None} if args.no_http else {}),
            }
        )
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """`routewatch collector [options]`: run until SIGINT/SIGTERM; 2 on a bad config."""
    args = _parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except Exception as exc:
        print(f"routewatch collector: bad configuration: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(config.model_dump_json(indent=2))
        return 0
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        collector = Collector(config)
        try:
            collector.start()
        except OSError as exc:
            print(f"routewatch collector: could not listen: {exc}", file=sys.stderr)
            return 1
        print(
            f"routewatch collector: OTLP/gRPC {collector.grpc_target or 'off'}, HTTP {collector.http_url or 'off'}",
            flush=True,
        )
        stop.wait()
        collector.stop()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
