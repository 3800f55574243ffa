"""The one thin patch: clients hand each request to a routewatch wrapper around their transport.

`Client._transport_for_url` (httpx and httpx2, sync and async) picks the transport for a request;
wrapping its result covers clients created before and after `instrument()`, mounted and custom
transports alike, without touching the clients themselves. Undone exactly by `unpatch_all`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .instrumentation import Instrumentation
from .transport import is_wrapped, transport_classes

__all__ = ["available_libraries", "patch_all", "unpatch_all"]

log = logging.getLogger("routewatch")

LIBRARIES = ("httpx", "httpx2")
_ATTR = "_transport_for_url"
_originals: dict[tuple[str, str], Callable[..., Any]] = {}


def available_libraries() -> list[ModuleType]:
    libs = []
    for name in LIBRARIES:
        try:
            libs.append(importlib.import_module(name))
        except ImportError:
            continue
    return libs


def _wrapping(original: Callable[..., Any], wrapper_cls: type[Any]) -> Callable[..., Any]:
    def _transport_for_url(self: Any, url: Any) -> Any:
        transport = original(self, url)
        if is_wrapped(transport):
            return transport
        return wrapper_cls(transport)

    _transport_for_url.__wrapped__ = original  # type: ignore[attr-defined]
    return _transport_for_url


def patch_all(current: Callable[[], Instrumentation | None]) -> list[str]:
    """Install the wrapper into every available library; returns the libraries patched."""
    patched = []
    for lib in available_libraries():
        classes = transport_classes(lib, current)
        for client_cls, wrapper_cls in ((lib.Client, classes.transport), (lib.AsyncClient, classes.async_transport)):
            key = (lib.__name__, client_cls.__name__)
            if key in _originals:
                continue
            original = client_cls.__dict__.get(_ATTR)
            if original is None:
                log.warning("routewatch: %s.%s has no %s; it stays uninstrumented", lib.__name__,
                            client_cls.__name__, _ATTR)  # fmt: skip
                continue
            _originals[key] = original
            setattr(client_cls, _ATTR, _wrapping(original, wrapper_cls))
        patched.append(lib.__name__)
    return patched


def unpatch_all() -> None:
    for (lib_name, cls_name), original in list(_originals.items()):
        lib = importlib.import_module(lib_name)
        setattr(getattr(lib, cls_name), _ATTR, original)
        del _originals[(lib_name, cls_name)]
