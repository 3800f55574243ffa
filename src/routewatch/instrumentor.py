"""`RouteWatchInstrumentor`: routewatch as an OpenTelemetry `BaseInstrumentor`.

Registered under the `opentelemetry_instrumentor` entry point, so `opentelemetry-instrument python
app.py` enables routewatch with no code change. Kept apart from `api.py` because importing the
instrumentation base costs ~0.1 s, which `import routewatch` should not pay.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from .api import instrument, uninstrument

__all__ = ["RouteWatchInstrumentor"]


class RouteWatchInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """OpenTelemetry instrumentor for `opentelemetry-instrument` and `Instrumentor().instrument()`."""

    def instrumentation_dependencies(self) -> Collection[str]:
        # Either library suffices, so neither is a hard requirement.
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        instrument(**kwargs)

    def _uninstrument(self, **kwargs: Any) -> None:
        uninstrument()
