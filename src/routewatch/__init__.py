"""routewatch: OpenTelemetry-native observability and drift detection for calls to LLM providers.

    import routewatch
    routewatch.instrument()   # every provider call through httpx / httpx2 becomes a GenAI span

See the README for the tour and `docs/` for the reference.
"""

from __future__ import annotations

from .api import instrument, record_score, uninstrument, wrap_transport
from .bus import add_listener, flush, remove_listener
from .records import CallRecord, RateLimits, RequestFacts, ResponseFacts, Usage
from .tags import tags
from .version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .drift import Alarm, DriftMonitor, MonitorConfig, StreamKey
    from .instrumentor import RouteWatchInstrumentor
    from .router import Demotable, HealthBook, Router, RouterConfig, TargetState, attach
    from .router.remote import RemoteHealth


_DRIFT_NAMES = ("Alarm", "DriftMonitor", "MonitorConfig", "StreamKey")
_ROUTER_NAMES = ("Demotable", "HealthBook", "Router", "RouterConfig", "TargetState", "attach")


def __getattr__(name: str) -> object:
    # Imported on first use: the instrumentation base and the drift engine are slow to import,
    # and an app that only instruments needs neither.
    if name == "RouteWatchInstrumentor":
        from .instrumentor import RouteWatchInstrumentor

        return RouteWatchInstrumentor
    if name in _DRIFT_NAMES:
        from . import drift

        return getattr(drift, name)
    if name in _ROUTER_NAMES:
        from . import router

        return getattr(router, name)
    if name == "RemoteHealth":
        from .router.remote import RemoteHealth

        return RemoteHealth
    raise AttributeError(f"module 'routewatch' has no attribute {name!r}")


__all__ = [
    "Alarm",
    "CallRecord",
    "Demotable",
    "DriftMonitor",
    "HealthBook",
    "MonitorConfig",
    "RateLimits",
    "RemoteHealth",
    "RequestFacts",
    "ResponseFacts",
    "RouteWatchInstrumentor",
    "Router",
    "RouterConfig",
    "StreamKey",
    "TargetState",
    "Usage",
    "__version__",
    "add_listener",
    "attach",
    "flush",
    "instrument",
    "record_score",
    "remove_listener",
    "tags",
    "uninstrument",
    "wrap_transport",
]
