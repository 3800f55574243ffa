"""The public surface: names, idempotence, the entry point, and clean removal."""

from __future__ import annotations

from importlib.metadata import entry_points

import httpx
import httpx2
import pytest

import routewatch
from routewatch.instrumentor import RouteWatchInstrumentor


def test_package_all_is_sorted_and_importable() -> None:
    assert list(routewatch.__all__) == sorted(routewatch.__all__)
    for name in routewatch.__all__:
        assert getattr(routewatch, name) is not None


@pytest.mark.parametrize("lib", [httpx, httpx2])
def test_instrument_patches_and_uninstrument_restores(lib) -> None:
    original = lib.Client.__dict__["_transport_for_url"]
    routewatch.instrument()
    routewatch.instrument()  # idempotent: no double wrapping
    patched = lib.Client.__dict__["_transport_for_url"]
    assert patched is not original and patched.__wrapped__ is original
    routewatch.uninstrument()
    routewatch.uninstrument()
    assert lib.Client.__dict__["_transport_for_url"] is original


def test_registered_as_opentelemetry_instrumentor() -> None:
    found = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "routewatch"]
    assert len(found) == 1
    assert found[0].load() is RouteWatchInstrumentor


def test_instrumentor_instruments_and_uninstruments() -> None:
    instrumentor = RouteWatchInstrumentor()
    instrumentor.instrument()
    try:
        assert routewatch.api.current_instrumentation() is not None
    finally:
        instrumentor.uninstrument()
    assert routewatch.api.current_instrumentation() is None


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(TypeError, match="unknown routewatch option"):
        routewatch.instrument(colour="blue")
    assert routewatch.api.current_instrumentation() is None


def test_wrap_transport_rejects_non_transports() -> None:
    with pytest.raises(TypeError, match="httpx or httpx2 transport"):
        routewatch.wrap_transport(object())


@pytest.mark.parametrize(
    ("lib", "attr"),
    [
        (httpx, "HTTPTransport"),
        (httpx, "AsyncHTTPTransport"),
        (httpx2, "HTTPTransport"),
        (httpx2, "AsyncHTTPTransport"),
    ],
)
def test_wrap_transport_keeps_the_transport_kind(lib, attr) -> None:
    inner = getattr(lib, attr)()
    wrapped = routewatch.wrap_transport(inner)
    base = lib.BaseTransport if "Async" not in attr else lib.AsyncBaseTransport
    assert isinstance(wrapped, base)
    assert routewatch.wrap_transport(wrapped) is wrapped
