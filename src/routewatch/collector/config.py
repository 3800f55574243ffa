"""The collector's configuration: one pydantic model, loaded from YAML and overridden by CLI flags.

Defaults are safe for a laptop (loopback only, no auth needed there); the deployment files in the
repository's `collector/` folder set `host: 0.0.0.0` and a token. Secrets never appear in reprs or
logs (`SecretStr`), and a token can come from a file or an environment variable instead of the YAML.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ..drift.detectors import SIGNALS
from ..drift.monitor import MonitorConfig

__all__ = [
    "DEFAULT_GRPC_PORT",
    "DEFAULT_HOST",
    "DEFAULT_HTTP_PORT",
    "ENV_TOKEN",
    "CollectorConfig",
    "default_monitor_config",
    "load_config",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_GRPC_PORT = 14317
DEFAULT_HTTP_PORT = 14318
ENV_TOKEN = "ROUTEWATCH_COLLECTOR_TOKEN"

# A span says nothing about the response text unless content capture is on, so "empty" cannot be
# judged from spans; watching it would read every call as empty.
_SPAN_BLIND_SIGNALS = frozenset({"empty"})


def default_monitor_config() -> MonitorConfig:
    """The drift monitor's defaults, minus the signals spans cannot carry."""
    return MonitorConfig(signals=tuple(sorted(SIGNALS - _SPAN_BLIND_SIGNALS)))


class CollectorConfig(BaseModel):
    """Everything `routewatch collector` can be told; see collector/routewatch-collector.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(default=DEFAULT_HOST, description="Address both servers bind (0.0.0.0 for all).")
    grpc_port: int | None = Field(default=DEFAULT_GRPC_PORT, ge=0, le=65535, description="OTLP/gRPC; null = off.")
    http_port: int | None = Field(default=DEFAULT_HTTP_PORT, ge=0, le=65535, description="OTLP/HTTP + API; null = off.")
    grpc_workers: int = Field(default=8, ge=1, description="gRPC handler threads (concurrent Export calls).")
    grpc_max_message_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Largest gRPC request, after decompression (else INVALID_ARGUMENT).",
    )
    http_max_body_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest OTLP/HTTP body, after decompression (else 413)."
    )
    http_idle_timeout_s: float = Field(default=30.0, gt=0, description="Idle keep-alive connections close after.")

    queue_capacity: int = Field(default=100_000, ge=1, description="Call records waiting for the detectors.")
    overload: Literal["reject", "drop"] = Field(
        default="reject",
        description="Queue full: 'reject' asks clients to retry (gRPC RESOURCE_EXHAUSTED + RetryInfo, HTTP 503 + "
        "Retry-After); 'drop' accepts and drops what does not fit (partial success, counted).",
    )
    retry_after_s: float = Field(default=1.0, gt=0, description="Retry delay suggested to clients when overloaded.")

    snapshot_path: Path | None = Field(default=None, description="Detector state file; null = no snapshots.")
    snapshot_interval_s: float = Field(default=60.0, gt=0, description="Seconds between periodic snapshots.")

    auth_token: SecretStr | None = Field(default=None, description="Bearer token clients must send.")
    auth_token_file: Path | None = Field(default=None, description="File holding the bearer token.")
    tls_cert_file: Path | None = Field(default=None, description="PEM certificate (chain): TLS on both servers.")
    tls_key_file: Path | None = Field(default=None, description="PEM private key for tls_cert_file.")
    tls_client_ca_file: Path | None = Field(default=None, description="CA bundle: require client certificates.")

    price_overrides_file: Path | None = Field(default=None, description="Price overrides (PriceBook.from_env format).")
    monitor: MonitorConfig = Field(default_factory=default_monitor_config)
    outputs: dict[str, Any] = Field(default_factory=dict, description="Output side (metrics, alerts); see outputs.py.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _tls_pairs(self) -> CollectorConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file needs tls_cert_file and tls_key_file")
        if self.grpc_port is None and self.http_port is None:
            raise ValueError("at least one of grpc_port and http_port must be set")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    def token(self, environ: dict[str, str] | None = None) -> str | None:
        """The bearer token: `auth_token`, else the file's first line, else $ROUTEWATCH_COLLECTOR_TOKEN."""
        if self.auth_token is not None and self.auth_token.get_secret_value():
            return self.auth_token.get_secret_value()
        if self.auth_token_file is not None:
            text = self.auth_token_file.read_text(encoding="utf-8").strip()
            if not text:
                raise ValueError(f"auth_token_file {self.auth_token_file} is empty")
            return text.splitlines()[0].strip()
        value = (os.environ if environ is None else environ).get(ENV_TOKEN, "").strip()
        return value or None


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> CollectorConfig:
    """The YAML file at `path` (if any) with `overrides` (None values ignored) on top."""
    data: dict[str, Any] = {}
    if path is not None:
        import yaml

        text = Path(path).read_text(encoding="utf-8")
        loaded = yaml.safe_load(text)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the collector config must be a mapping, got {type(loaded).__name__}")
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return CollectorConfig.model_validate(data)
