"""The demo's three providers, how each behaves on the simulator, and the regressions it can inject.

Every provider gets its own route prefix on one loopback simulator, so a regression can hit one of
them while the others carry on. Times are compressed (a tenth of a second, not seconds) so the
detectors see a few thousand calls within a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..simulator import Phase, ProviderSettings, Scenario

__all__ = ["SCENARIOS", "TARGETS", "Regression", "Target", "build_scenario"]


@dataclass(frozen=True, slots=True)
class Target:
    """One routable provider/model: `name` is the router's target name, `provider` the GenAI one."""

    name: str
    provider: str
    model: str
    sdk: Literal["openai", "anthropic"]
    route: str  # the simulator path its calls use (also the scenario's route-prefix key)
    base_path: str  # appended to the simulator URL to make the SDK's base URL
    settings: ProviderSettings


_COMMON: dict[str, Any] = {"jitter_sigma": 0.25, "output_tokens": 18, "tool_calls": True}

TARGETS: tuple[Target, ...] = (
    Target(
        "openai", "openai", "gpt-4o-mini", "openai", "/v1/chat/completions", "/v1",
        ProviderSettings(latency_s=0.150, ttft_s=0.090, per_token_s=0.0040,
                         **_COMMON),
    ),
    Target(
        "anthropic", "anthropic", "claude-haiku-4-5", "anthropic", "/v1/messages", "",
        ProviderSettings(latency_s=0.180, ttft_s=0.110, per_token_s=0.0035,
                         **_COMMON),
    ),
    Target(
        "mistral", "mistral_ai", "mistral-small-latest", "openai", "/mistral/v1/chat/completions", "/mistral/v1",
        ProviderSettings(latency_s=0.130, ttft_s=0.075, per_token_s=0.0045,
                         **_COMMON),
    ),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Regression:
    """What goes wrong with the regressed provider between injection and recovery."""

    description: str
    latency_factor: float = 1.0
    faults: tuple[tuple[str, float], ...] = ()
    expected_signals: tuple[str, ...] = ()


SCENARIOS: dict[str, Regression] = {
    "latency-and-schema": Regression(
        "p95 latency doubles and 80 % of its structured outputs fail their JSON schema",
        latency_factor=2.0,
        faults=(("schema_violation", 0.8),),
        expected_signals=("latency", "ttft", "schema_invalid"),
    ),
    "latency": Regression("latency doubles", latency_factor=2.0, expected_signals=("latency", "ttft")),
    "schema": Regression(
        "80 % of its structured outputs fail their JSON schema",
        faults=(("schema_violation", 0.8),),
        expected_signals=("schema_invalid",),
    ),
    "errors": Regression(
        "a quarter of calls fail with 503", faults=(("http_503", 0.25),), expected_signals=("error", "server_error")
    ),
}


def build_scenario(
    regressed: Target, regression: Regression, inject_at_s: float, recover_at_s: float, seed: int
) -> Scenario:
    """Baseline for every target; from `inject_at_s` the regression on one; from `recover_at_s` the baseline again."""
    base = regressed.settings
    faults = {**base.faults, **dict(regression.faults)}
    factor = regression.latency_factor
    # everything else (jitter, output length, tool calls) as at baseline: only the regression changes
    worse = base.model_copy(
        update={
            "latency_s": base.latency_s * factor,
            "ttft_s": base.ttft_s * factor,
            "per_token_s": base.per_token_s * factor,
            "faults": faults,
        }
    )
    return Scenario(
        seed=seed,
        providers={t.route: t.settings for t in TARGETS},
        phases=(
            Phase(start_after_s=inject_at_s, providers={regressed.route: worse}),
            Phase(start_after_s=recover_at_s),
        ),
    )
