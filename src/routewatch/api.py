"""`instrument()`, `uninstrument()` and `wrap_transport()`: turning routewatch on and off.

Explicit arguments win; `None` means the environment, else the default; the global OpenTelemetry
providers are used unless others are given.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from .bus import bus
from .capture import capture_enabled
from .classify import RouteTable
from .instrumentation import Instrumentation
from .metrics import CallMetrics
from .patching import available_libraries, patch_all, unpatch_all
from .pricing import ENV_PRICES_FILE, PriceBook
from .records import Usage
from .transport import is_wrapped, transport_classes

__all__ = ["current_instrumentation", "instrument", "record_score", "uninstrument", "wrap_transport"]

log = logging.getLogger("routewatch")

_DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
_ENV_INCLUDE_USAGE = "ROUTEWATCH_INCLUDE_USAGE"
_KNOWN_OPTIONS = {"include_usage", "max_body_bytes", "prices", "metrics", "monitor", "per_chunk_metrics"}

_lock = threading.Lock()
_active: Instrumentation | None = None
_monitor: Any = None
_default: Instrumentation | None = None


def current_instrumentation() -> Instrumentation | None:
    return _active


def _wrapper_instrumentation() -> Instrumentation | None:
    """For explicitly wrapped transports: the active instrumentation, else a default one."""
    global _default
    if _active is not None:
        return _active
    if _default is None:
        with _lock:
            if _default is None:
                _default, sinks = _build(None, None, None, None, {})
                bus.set_sinks(sinks)
    return _default


def _env_flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value not in ("", "0", "false", "no", "off"):
        log.warning("%s=%r is not a boolean; using false", name, value)
    return False


def _build(
    tracer_provider: Any, meter_provider: Any, providers: Mapping[str, str] | None,
    capture_content: bool | None, options: Mapping[str, Any],
) -> tuple[Instrumentation, tuple[Any, ...]]:  # fmt: skip
    """The instrumentation and the bus sinks (metrics, monitor) that go with it."""
    unknown = set(options) - _KNOWN_OPTIONS
    if unknown:
        raise TypeError(f"unknown routewatch option(s): {', '.join(sorted(unknown))}")
    include_usage = options.get("include_usage")
    max_body_bytes = int(options.get("max_body_bytes", _DEFAULT_MAX_BODY_BYTES))
    if max_body_bytes < 0:
        raise ValueError("max_body_bytes must be >= 0")
    prices = options.get("prices")
    if prices is None:
        prices = _default_prices()
    elif not isinstance(prices, PriceBook):
        prices = PriceBook(overrides=prices)
    inst = Instrumentation(
        tracer_provider=tracer_provider,
        route_table=RouteTable(providers),
        prices=prices,
        bus=bus,
        capture_content=capture_enabled(capture_content),
        include_usage=_env_flag(_ENV_INCLUDE_USAGE) if include_usage is None else bool(include_usage),
        max_body_bytes=max_body_bytes,
    )
    sinks = []
    if options.get("metrics", True):
        sinks.append(_call_metrics(meter_provider).sink(bool(options.get("per_chunk_metrics", False))))
    monitor = options.get("monitor")
    if monitor is not None:
        sinks.append(monitor.record)
    return inst, tuple(sinks)


def instrument(
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    providers: Mapping[str, str] | None = None,
    capture_content: bool | None = None,
    **options: Any,
) -> None:
    """Turn every provider call made through httpx or httpx2 into a GenAI span and metrics.

    Idempotent: a second call while instrumented does nothing (uninstrument first to reconfigure).
    Options: `include_usage` (add `stream_options.include_usage` to OpenAI-compatible streaming
    requests that lack it; default from ROUTEWATCH_INCLUDE_USAGE, else off), `prices` (a PriceBook or
    overrides), `max_body_bytes` (cap on buffered non-streamed bodies), `metrics` (default True),
    `per_chunk_metrics` (record every output-chunk interval in `time_per_output_chunk`, as the
    convention reads; default False: one point per streamed call, its mean interval, because a
    histogram point costs several microseconds and a long stream has thousands of chunks),
    `monitor` (a drift monitor fed off the request path).
    """
    global _active, _monitor
    with _lock:
        if _active is not None:
            return
        inst, sinks = _build(tracer_provider, meter_provider, providers, capture_content, options)
        _active = inst
        _monitor = options.get("monitor")
        bus.set_sinks(sinks)
        patched = patch_all(_wrapper_instrumentation)
    if not patched:
        log.warning("routewatch: neither httpx nor httpx2 is installed; nothing to instrument")
    if _monitor is not None and hasattr(_monitor, "attach_spans"):
        # Alarms raised on the bus worker have no current span; the monitor parks them and adds
        # them to the next span of their stream, which needs its span processor registered.
        try:
            _monitor.attach_spans(tracer_provider)
        except Exception:
            log.warning("routewatch: could not attach the drift monitor's span sink", exc_info=True)
    if inst.prices not in _warmed:
        # Loading the price table takes ~0.25 s; do it now, off the app's thread, not on its first call.
        _warmed.add(inst.prices)
        threading.Thread(target=_warm_prices, args=(inst.prices,), name="routewatch-prices", daemon=True).start()


_warmed: weakref.WeakSet[PriceBook] = weakref.WeakSet()
_default_books: dict[str | None, PriceBook] = {}
_metrics_by_provider: dict[int, tuple[Any, CallMetrics]] = {}


def _default_prices() -> PriceBook:
    """One book per price-override file, kept across re-instrumentation so its cache stays warm."""
    key = os.environ.get(ENV_PRICES_FILE)
    book = _default_books.get(key)
    if book is None:
        book = _default_books[key] = PriceBook.from_env()
    return book


def _call_metrics(meter_provider: Any) -> CallMetrics:
    """Instruments are created once per meter provider, as the SDK expects (the cost counter's
    callback, and so its totals, are the first instance's)."""
    key = id(meter_provider)
    found = _metrics_by_provider.get(key)
    if found is None or found[0] is not meter_provider:
        found = (meter_provider, CallMetrics(meter_provider))
        _metrics_by_provider[key] = found
    return found[1]


def _warm_prices(prices: PriceBook) -> None:
    try:
        prices.cost("openai", "gpt-4o-mini", Usage(input_tokens=1, output_tokens=1))
    except Exception:
        log.debug("routewatch: warming the price table failed", exc_info=True)


def uninstrument() -> None:
    """Remove the patch; calls already in flight still finish their spans. Idempotent."""
    global _active, _monitor
    with _lock:
        unpatch_all()
        _monitor = None
        if _active is not None:
            _active = None
            bus.set_sinks(())


def wrap_transport(transport: Any) -> Any:
    """Wrap an httpx/httpx2 transport (sync or async) for clients built by hand.

    Works with or without `instrument()`; when neither is active, spans go to the global providers.
    """
    if is_wrapped(transport):
        return transport
    for lib in available_libraries():
        classes = transport_classes(lib, _wrapper_instrumentation)
        if isinstance(transport, lib.BaseTransport):
            return classes.transport(transport)
        if isinstance(transport, lib.AsyncBaseTransport):
            return classes.async_transport(transport)
    raise TypeError(f"expected an httpx or httpx2 transport, got {type(transport).__name__}")


def record_score(
    score: float, *, response_id: str | None = None, call: Any = None, key: Any = None, monitor: Any = None
) -> list[Any]:
    """Attach a downstream score (user thumbs 0/1, an eval grade) to a call or a stream key.

    Goes to `monitor`, else to the monitor given to `instrument(monitor=...)`. Returns any alarms.
    """
    target = monitor if monitor is not None else _monitor
    if target is None:
        raise RuntimeError("record_score needs a DriftMonitor: pass monitor= or instrument(monitor=...)")
    return list(target.record_score(score, response_id=response_id, call=call, key=key))
