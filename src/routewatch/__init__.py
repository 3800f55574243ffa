"""routewatch: OpenTelemetry-native observability and drift detection for calls to LLM providers.

    import routewatch
    routewatch.instrument()   # every provider call through httpx / httpx2 becomes a GenAI span

See the README for the tour and `docs/` for the reference.
"""

from __future__ import annotations

from .bus import add_listener, flush, remove_listener
from .instrumentor import RouteWatchInstrumentor, instrument, uninstrument, wrap_transport
from .records import CallRecord, RateLimits, RequestFacts, ResponseFacts, Usage
from .tags import tags
from .version import __version__

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
