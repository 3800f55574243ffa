"""routewatch: OpenTelemetry-native observability and drift detection for calls to LLM providers.

    import routewatch
    routewatch.instrument()   # every provider call through httpx / httpx2 becomes a GenAI span

See the README for the tour and `docs/` for the reference.
"""

from __future__ import annotations

from .api import instrument, uninstrument, wrap_transport
from .bus import add_listener, flush, remove_listener
from .records import CallRecord, RateLimits, RequestFacts, ResponseFacts, Usage
from .tags import tags
from .version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .instrumentor import RouteWatchInstrumentor


def __getattr__(name: str) -> object:
    # Imported on first use: the OpenTelemetry instrumentation base is slow to import.
    if name == "RouteWatchInstrumentor":
        from .instrumentor import RouteWatchInstrumentor

        return RouteWatchInstrumentor
    raise AttributeError(f"module 'routewatch' has no attribute {name!r}")


__all__ = [
    "CallRecord",
    "RateLimits",
    "RequestFacts",
    "ResponseFacts",
    "RouteWatchInstrumentor",
    "Usage",
    "__version__",
    "add_listener",
    "flush",
    "instrument",
    "remove_listener",
    "tags",
    "uninstrument",
    "wrap_transport",
]
