"""The routewatch collector: OTLP from any number of apps in, drift alarms, metrics and a health feed out.

`Collector` (service.py) is the service object; `CollectorConfig` (config.py) its configuration;
`main(argv)` the command line (`routewatch collector`, `python -m routewatch.collector`). Names are
loaded on first use, so importing one output module does not start up gRPC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import CollectorConfig, load_config
    from .service import Collector, main

__all__ = ["Collector", "CollectorConfig", "load_config", "main"]

_LAZY = {"Collector": ".service", "main": ".service", "CollectorConfig": ".config", "load_config": ".config"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module, __name__), name)
