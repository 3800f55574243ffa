"""Scrub credentials from text that may reach a span or a log (exception messages, URLs).

routewatch never records headers or full URLs, but an exception raised by the network stack may
quote a URL with a `?key=` query string or a bearer token; those are replaced before recording.
"""

from __future__ import annotations

import re

__all__ = ["scrub"]

_PATTERNS = (
    re.compile(r"(?i)([?&](?:key|api[-_]?key|access_token|token|sig)=)[^&#\s'\"]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:x-api-key|x-goog-api-key|api[-_]key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s,'\"}]+"),
    re.compile(r"()\b(?:sk|pk|rk)-(?:ant-|proj-)?[A-Za-z0-9_-]{8,}"),
    re.compile(r"()\bAIza[0-9A-Za-z_-]{20,}"),
)


def scrub(text: str) -> str:
    """`text` with anything that looks like a credential replaced by `[REDACTED]`."""
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1[REDACTED]", text)
    return text
