"""Official SDK clients per target, built on first use (or supplied by the app).

openai-compatible providers get `openai.OpenAI` / `AsyncOpenAI` with the target's `base_url`;
`anthropic` gets `anthropic.Anthropic`; Gemini gets a `google.genai.Client` (its `.aio` for async).
SDK retries default to 0: the router fails over instead of retrying a failing target. The key is
read from the environment variable the target names; only the variable's name ever appears in an
error.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .config import Target

__all__ = ["ClientCache", "ClientUnavailable", "build_client"]

_ANTHROPIC = frozenset({"anthropic"})
_GEMINI = frozenset({"gcp.gemini", "gemini", "google", "gcp.gen_ai", "gcp.vertex_ai"})


class ClientUnavailable(RuntimeError):
    """A target's client cannot be built (SDK missing, key variable unset): fail over to another."""


def _key(target: Target) -> str | None:
    if target.api_key_env is None:
        return None
    value = os.environ.get(target.api_key_env)
    if not value:
        raise ClientUnavailable(f"target {target.name!r}: environment variable {target.api_key_env} is not set")
    return value


def build_client(target: Target, *, asynchronous: bool = False) -> Any:
    """A new SDK client for `target`; raises ClientUnavailable with an install hint or the missing variable."""
    key = _key(target)
    try:
        if target.provider in _ANTHROPIC:
            import anthropic

            cls: Any = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
            kwargs: dict[str, Any] = {"max_retries": target.sdk_max_retries, "timeout": target.timeout_s}
            if key is not None:
                kwargs["api_key"] = key
            if target.base_url:
                kwargs["base_url"] = target.base_url
            return cls(**kwargs)
        if target.provider in _GEMINI:
            from google import genai
            from google.genai import types

            options = types.HttpOptions(
                base_url=target.base_url,
                timeout=int(target.timeout_s * 1000) if target.timeout_s else None,
                retry_options=types.HttpRetryOptions(attempts=1 + target.sdk_max_retries),
            )
            client = genai.Client(api_key=key, http_options=options)
            return client.aio if asynchronous else client
        import openai

        ocls: Any = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        okwargs: dict[str, Any] = {"max_retries": target.sdk_max_retries, "timeout": target.timeout_s}
        if target.base_url:
            okwargs["base_url"] = target.base_url
        if key is not None:
            okwargs["api_key"] = key
        elif target.base_url and not os.environ.get("OPENAI_API_KEY"):
            okwargs["api_key"] = "unused"  # local openai-compatible servers need no key
        return ocls(**okwargs)
    except ImportError as exc:
        package = {"anthropic": "anthropic"}.get(target.provider, "google-genai" if target.provider in _GEMINI
                                                  else "openai")  # fmt: skip
        raise ClientUnavailable(f"target {target.name!r} needs the {package} SDK: pip install {package}") from exc
    except ClientUnavailable:
        raise
    except Exception as exc:  # the SDK refused its arguments; say which target, not the key
        raise ClientUnavailable(f"target {target.name!r}: cannot build its client ({type(exc).__name__})") from None


class ClientCache:
    """Clients per (target, sync/async), rebuilt when the target's connection settings change."""

    def __init__(self, supplied: dict[str, Any] | None = None, supplied_async: dict[str, Any] | None = None) -> None:
        self._supplied = dict(supplied or {})
        self._supplied_async = dict(supplied_async or {})
        self._built: dict[tuple[str, bool], tuple[tuple[Any, ...], Any]] = {}
        self._lock = threading.Lock()

    def get(self, target: Target, *, asynchronous: bool = False) -> Any:
        supplied = (self._supplied_async if asynchronous else self._supplied).get(target.name)
        if supplied is not None:
            return supplied
        if target.client is not None:  # the app's own client, used for run and arun alike
            return target.client
        signature = target.client_signature()
        found = self._built.get((target.name, asynchronous))
        if found is not None and found[0] == signature:
            return found[1]
        with self._lock:
            found = self._built.get((target.name, asynchronous))
            if found is not None and found[0] == signature:
                return found[1]
            client = build_client(target, asynchronous=asynchronous)
            self._built[(target.name, asynchronous)] = (signature, client)
            return client

    def retain(self, targets: dict[str, Target]) -> None:
        """Forget clients of removed targets and of targets whose connection settings changed."""
        with self._lock:
            for key, (signature, _) in list(self._built.items()):
                target = targets.get(key[0])
                if target is None or target.client_signature() != signature:
                    del self._built[key]
