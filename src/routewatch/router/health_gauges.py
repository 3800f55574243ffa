"""The router's health gauges: one state and one weight gauge per meter provider, observing every live
`HealthBook` on it (a book that is garbage collected drops out; instruments are never created twice)."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation, get_meter

from ..version import __version__

if TYPE_CHECKING:
    from .health import HealthBook

__all__ = ["STATE_METRIC", "WEIGHT_METRIC", "register_gauges"]

STATE_METRIC = "routewatch.router.target.state"
WEIGHT_METRIC = "routewatch.router.target.weight"

_gauge_lock = threading.Lock()
# Books observed per meter provider; a provider that is garbage collected takes its entry with it.
_books_by_provider: weakref.WeakKeyDictionary[Any, weakref.WeakSet[HealthBook]] = weakref.WeakKeyDictionary()
_books_global: list[weakref.WeakSet[HealthBook]] = []  # meter_provider=None: the global provider


def register_gauges(book: HealthBook, meter_provider: MeterProvider | None) -> None:
    with _gauge_lock:
        if meter_provider is None:
            books = _books_global[0] if _books_global else None
        else:
            try:
                books = _books_by_provider.get(meter_provider)
            except TypeError:  # a provider that cannot be weakly referenced: observe this book alone
                books = None
        if books is not None:
            books.add(book)
            return
        books = weakref.WeakSet([book])
        if meter_provider is None:
            _books_global.append(books)
        else:
            with contextlib.suppress(TypeError):
                _books_by_provider[meter_provider] = books
    meter = get_meter("routewatch.router", __version__, meter_provider)

    def observe_states(options: CallbackOptions) -> Iterable[Observation]:
        out: list[Observation] = []
        for each in list(books):
            out.extend(each._observations()[0])
        return out

    def observe_weights(options: CallbackOptions) -> Iterable[Observation]:
        out: list[Observation] = []
        for each in list(books):
            out.extend(each._observations()[1])
        return out

    meter.create_observable_gauge(STATE_METRIC, [observe_states], unit="1",
                                  description="1 for the router target's current health state, else 0.")  # fmt: skip
    meter.create_observable_gauge(WEIGHT_METRIC, [observe_weights], unit="1",
                                  description="Router target's weight factor: 1 healthy, 0 ejected.")  # fmt: skip
