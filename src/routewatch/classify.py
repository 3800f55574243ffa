"""Decide whether an HTTP request is a provider call, and which provider and API flavour it is.

Three sources, in order: the user's base-URL mapping, the table of known provider hosts, and, for
unknown hosts, the path plus a header signature (so a random service with a `/chat` path is not
mistaken for an LLM). Anything else is not ours and passes through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from . import semconv as sc

__all__ = ["Route", "RouteTable"]


@dataclass(frozen=True, slots=True)
class Route:
    """A classified provider call: who (`provider`), which wire flavour (`api`), which operation."""

    provider: str
    api: str
    operation: str
    # A GET of a stored result (OpenAI Responses retrieve): no new generation, so no usage or cost.
    retrieval: bool = False


# Exact hosts, then host suffixes (for per-resource subdomains).
_KNOWN_HOSTS: dict[str, str] = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "aiplatform.googleapis.com": "gcp.vertex_ai",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.together.xyz": "together_ai",
    "api.together.ai": "together_ai",
    "api.fireworks.ai": "fireworks",
    "openrouter.ai": "openrouter",
    "api.x.ai": "x_ai",
    "api.mistral.ai": "mistral_ai",
    "api.cohere.com": "cohere",
    "api.cohere.ai": "cohere",
    "api.perplexity.ai": "perplexity",
}
_KNOWN_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".openai.azure.com", "azure.ai.openai"),
    (".cognitiveservices.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.openai"),
    ("-aiplatform.googleapis.com", "gcp.vertex_ai"),
)
_OLLAMA_PORT = 11434


def _route_from_path(method: str, path: str) -> Route | None:
    """The flavour a path names, with a placeholder provider (filled in by the caller)."""
    if ":" in path:
        action = path.rsplit(":", 1)[1]
        if action in ("generateContent", "streamGenerateContent"):
            return Route("", "gemini.generate_content", sc.OP_GENERATE_CONTENT)
        if action in ("embedContent", "batchEmbedContents"):
            return Route("", "gemini.embed_content", sc.OP_EMBEDDINGS)
        return None
    path = path.rstrip("/")
    if method == "POST":
        if path.endswith("/chat/completions"):
            return Route("", "openai.chat_completions", sc.OP_CHAT)
        # Mistral's fill-in-the-middle and agents endpoints answer in the chat-completions format
        # (choices[].message / delta), not the legacy one whose path they share the end of.
        if path.endswith("/fim/completions"):
            return Route("", "openai.chat_completions", sc.OP_TEXT_COMPLETION)
        if path.endswith("/agents/completions"):
            return Route("", "openai.chat_completions", sc.OP_CHAT)
        if path.endswith("/completions"):
            return Route("", "openai.completions", sc.OP_TEXT_COMPLETION)
        if path.endswith("/embeddings"):
            return Route("", "openai.embeddings", sc.OP_EMBEDDINGS)
        if path.endswith("/responses"):
            return Route("", "openai.responses", sc.OP_CHAT)
        if path.endswith("/messages"):
            return Route("", "anthropic.messages", sc.OP_CHAT)
        if path.endswith("/v2/chat"):
            return Route("", "cohere.chat", sc.OP_CHAT)
        if path.endswith("/api/chat"):
            return Route("", "ollama.chat", sc.OP_CHAT)
        if path.endswith("/api/generate"):
            return Route("", "ollama.generate", sc.OP_TEXT_COMPLETION)
    elif method == "GET":
        head, _, last = path.rpartition("/")
        if head.endswith("/responses") and last.startswith("resp"):
            return Route("", "openai.responses", sc.OP_FETCH_RESPONSE, retrieval=True)
    return None


@lru_cache(maxsize=1024)
def _known_provider(host: str) -> str | None:
    provider = _KNOWN_HOSTS.get(host)
    if provider is not None:
        return provider
    for suffix, name in _KNOWN_SUFFIXES:
        if host.endswith(suffix):
            return name
    return None


def _signature_provider(api: str, port: int | None, headers: Mapping[str, str]) -> str | None:
    """Provider of a call to an unknown host, when the headers back up what the path suggests."""
    if api.startswith("openai."):
        if port == _OLLAMA_PORT:
            return "ollama"
        if "authorization" in headers or "x-stainless-lang" in headers or "api-key" in headers:
            return "openai_compatible"
        return None
    if api == "anthropic.messages":
        return "anthropic" if "anthropic-version" in headers else None
    if api.startswith("gemini."):
        return "gcp.gemini"  # `:generateContent` paths are Gemini's own vocabulary.
    if api == "cohere.chat":
        agent = headers.get("user-agent", "").lower()
        return "cohere" if "cohere" in agent or "x-fern-sdk-name" in headers else None
    if api.startswith("ollama."):
        agent = headers.get("user-agent", "").lower()
        return "ollama" if port == _OLLAMA_PORT or "ollama" in agent else None
    return None


class RouteTable:
    """Classifies requests; built once per `instrument()` from the user's mapping."""

    __slots__ = ("_prefixes",)

    def __init__(self, providers: Mapping[str, str] | None = None) -> None:
        prefixes = []
        for base_url, name in (providers or {}).items():
            if not isinstance(base_url, str) or not isinstance(name, str) or not name:
                raise ValueError(f"providers must map base URLs to provider names, got {base_url!r}: {name!r}")
            prefixes.append((_base(base_url), name))
        # Longest prefix first, so a specific mapping beats a general one.
        self._prefixes = tuple(sorted(prefixes, key=lambda item: -len(item[0])))

    def classify(
        self, method: str, scheme: str, host: str, port: int | None, path: str, headers: Mapping[str, str]
    ) -> Route | None:
        """The route of a request, or None when it is not a provider call we understand."""
        shape = _route_from_path(method, path)
        if shape is None:
            return None
        provider: str | None = None
        if self._prefixes:
            url = _origin(scheme, host, port) + path
            for prefix, name in self._prefixes:
                if url.startswith(prefix) and (len(url) == len(prefix) or url[len(prefix)] in "/:"):
                    provider = name
                    break
        if provider is None:
            provider = _known_provider(host)
            if provider is not None and not _flavour_fits(provider, shape.api):
                provider = None
        if provider is None:
            provider = _signature_provider(shape.api, port, headers)
        if provider is None:
            return None
        return Route(provider, shape.api, shape.operation, shape.retrieval)


def _flavour_fits(provider: str, api: str) -> bool:
    """Known hosts speak a known set of flavours; anything else on them is not a generation."""
    if provider == "anthropic":
        return api == "anthropic.messages"
    if provider in ("gcp.gemini", "gcp.vertex_ai"):
        return api.startswith("gemini.")
    if provider == "cohere":
        return api == "cohere.chat" or api.startswith("openai.")
    return api.startswith("openai.")


def _base(base_url: str) -> str:
    """A mapping's base URL spelled as `classify` spells a request's URL (httpx hands it the host
    lower-cased and an IPv6 address without brackets): otherwise `HTTP://GPU-Box`, `[::1]` or an
    explicit default port would never match."""
    parts = urlsplit(base_url.strip())
    if not parts.scheme or not parts.hostname:
        return base_url.rstrip("/")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"providers must map base URLs to provider names, got a bad port in {base_url!r}") from None
    return _origin(parts.scheme.lower(), parts.hostname, port) + parts.path.rstrip("/")


def _origin(scheme: str, host: str, port: int | None) -> str:
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    default = 443 if scheme == "https" else 80
    if port is None or port == default:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
