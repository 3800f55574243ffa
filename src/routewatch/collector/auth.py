"""Bearer-token checks and TLS material for the collector's two servers.

The token is compared in constant time and never logged, echoed or put in an error message.
"""

from __future__ import annotations

import hmac
import ssl
from pathlib import Path

__all__ = ["BearerAuth", "server_ssl_context"]


class BearerAuth:
    """Checks `Authorization: Bearer <token>` values; with no token configured everything passes."""

    __slots__ = ("_expected",)

    def __init__(self, token: str | None) -> None:
        self._expected = ("Bearer " + token).encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._expected is not None

    def allows(self, header_value: str | None) -> bool:
        if self._expected is None:
            return True
        if not header_value:
            return False
        scheme, _, credentials = header_value.strip().partition(" ")
        given = ("Bearer " + credentials.strip()).encode() if scheme.lower() == "bearer" else b""
        return hmac.compare_digest(given, self._expected)

    def __repr__(self) -> str:
        return f"BearerAuth(enabled={self.enabled})"


def server_ssl_context(cert_file: Path, key_file: Path, client_ca_file: Path | None = None) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2+); with `client_ca_file`, clients must present a certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_file), str(key_file))
    if client_ca_file is not None:
        context.load_verify_locations(str(client_ca_file))
        context.verify_mode = ssl.CERT_REQUIRED
    return context
