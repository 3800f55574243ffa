"""What the simulated providers do: per-provider settings, time-varying phases and fault draws.

A `Scenario` holds a `default` `ProviderSettings`, overlays per provider (`"openai"`, `"anthropic"`,
`"gemini"`, `"cohere"`, `"ollama"`) or per route prefix (a key starting with "/", e.g.
`"/openai/v1"`), and `phases`. An overlay sets only the fields given to it (pydantic's
`model_fields_set`), so `ProviderSettings(output_tokens=50)` changes the reply length and nothing else;
the `faults` and `fault_every_n` maps are merged key by key (set a value to 0 to switch one off).

Settings for one request are layered: `default`, then the provider's overlay, then the longest
matching route prefix's, then, when a phase is active, the phase's `default`, provider and prefix
overlays. Phases do not accumulate: each one overlays the base scenario, so a phase that sets nothing
restores it. The active phase is the last one, in list order, whose trigger has fired; triggers count
from the moment the scenario was set (or the simulator started).

>>> s = Scenario(
...     default=ProviderSettings(latency_s=0.01),
...     phases=[
...         Phase(start_after_requests=200, default=ProviderSettings(latency_s=0.02,
...               faults={"schema_violation": 0.1})),
...         Phase(start_after_requests=400),
...     ],
... )
>>> run = ScenarioRuntime(s)
>>> [run.draw("openai", "/v1/chat/completions").settings.latency_s for _ in range(3)]
[0.01, 0.01, 0.01]
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["FAULTS", "PROVIDERS", "Draw", "Phase", "ProviderSettings", "Scenario", "ScenarioRuntime", "jittered"]

PROVIDERS = ("openai", "anthropic", "gemini", "cohere", "ollama")

#: Fault kinds besides `http_<status>` (any 4xx or 5xx status, e.g. `http_429`, `http_529`).
FAULTS = (
    "error_after_200",  # an error event after a 200 (streams only)
    "truncate",  # the stream stops before its terminal event; a JSON body is cut in half
    "malformed_body",  # garbage where JSON is expected
    "invalid_json_output",  # structured-output requests get text that does not parse as JSON
    "schema_violation",  # structured-output requests get JSON that violates the schema
    "refusal",  # the model refuses
    "empty_output",  # the model says nothing
    "stall",  # wait `stall_s` before answering (client timeouts)
)
_STATUS_FAULT = re.compile(r"^http_[45]\d\d$")
_MERGED_MAPS = frozenset({"faults", "fault_every_n"})


class ProviderSettings(BaseModel):
    """How one provider (or route) behaves. Times are seconds; jitter multiplies every delay by a
    lognormal factor with median 1 and shape `jitter_sigma`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ttft_s: float = Field(default=0.0, ge=0, description="Delay before the first content chunk of a stream.")
    per_token_s: float = Field(default=0.0, ge=0, description="Pace between streamed content chunks.")
    latency_s: float = Field(default=0.0, ge=0, description="Delay before a non-streamed response.")
    jitter_sigma: float = Field(default=0.0, ge=0, description="Lognormal sigma applied to each delay.")
    output_tokens: int = Field(default=24, ge=0, description="Text tokens per reply (a request max caps it).")
    input_tokens: int | None = Field(default=None, ge=0, description="Prompt tokens; None: estimated from the body.")
    cached_input_tokens: int = Field(default=0, ge=0, description="Prompt tokens reported as cache reads.")
    cache_creation_input_tokens: int = Field(default=0, ge=0, description="Prompt tokens written to the cache.")
    reasoning_tokens: int = Field(default=0, ge=0, description="Reasoning tokens on top of the visible output.")
    embedding_dimensions: int = Field(default=64, ge=1, description="Vector size when the request gives none.")
    model_override: str | None = Field(default=None, description="Response model, instead of echoing the request.")
    fingerprint: str = Field(default="fp_sim0001", description="OpenAI `system_fingerprint`.")
    tool_calls: bool = Field(default=False, description="Call a tool whenever the request offers tools.")
    faults: dict[str, float] = Field(default_factory=dict, description="Fault kind -> probability.")
    fault_every_n: dict[str, int] = Field(
        default_factory=dict, description="Fault kind -> n: every n-th request of the scenario (0 = off)."
    )
    fault_after_chunks: int = Field(default=3, ge=0, description="Content chunks sent before a mid-stream fault.")
    truncate_mode: Literal["close", "end"] = Field(
        default="close", description="`close` drops the connection; `end` ends the chunked body cleanly."
    )
    responses_error_event: Literal["response.failed", "error"] = "response.failed"
    retry_after_s: float = Field(default=1.0, ge=0, description="`retry-after` on 429, 503 and 529.")
    stall_s: float = Field(default=10.0, ge=0)
    ratelimit_requests: int = Field(default=10_000, ge=1, description="Requests per minute in rate-limit headers.")
    ratelimit_tokens: int = Field(default=2_000_000, ge=1, description="Tokens per minute in rate-limit headers.")

    @field_validator("faults", "fault_every_n")
    @classmethod
    def _known_faults(cls, value: dict[str, Any]) -> dict[str, Any]:
        for kind, amount in value.items():
            if kind not in FAULTS and not _STATUS_FAULT.match(kind):
                raise ValueError(f"unknown fault {kind!r}: use one of {FAULTS} or http_<4xx|5xx>")
            if amount < 0:
                raise ValueError(f"fault {kind!r} has a negative value")
        return value

    @field_validator("faults")
    @classmethod
    def _probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        if any(p > 1 for p in value.values()) or sum(value.values()) > 1 + 1e-9:
            raise ValueError("fault probabilities must each be <= 1 and sum to <= 1")
        return value


class Phase(BaseModel):
    """Overlays that apply once `start_after_s` seconds or `start_after_requests` requests have passed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_after_s: float | None = Field(default=None, ge=0)
    start_after_requests: int | None = Field(default=None, ge=0)
    default: ProviderSettings = Field(default_factory=lambda: ProviderSettings())
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_trigger(self) -> Phase:
        if (self.start_after_s is None) == (self.start_after_requests is None):
            raise ValueError("a phase needs exactly one of start_after_s and start_after_requests")
        _check_keys(self.providers)
        return self


class Scenario(BaseModel):
    """Everything the simulator does, seeded so that runs repeat."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    default: ProviderSettings = Field(default_factory=lambda: ProviderSettings())
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    phases: tuple[Phase, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        _check_keys(self.providers)
        keys = {*PROVIDERS, *self.providers, *(k for phase in self.phases for k in phase.providers)}
        for index in range(len(self.phases) + 1):  # surface bad combinations now, not per request
            for key in keys:
                self.settings_for(index - 1, key if key in PROVIDERS else "openai", key)
        return self

    @classmethod
    def load(cls, source: str | Path) -> Scenario:
        """Read a scenario from a JSON file."""
        return cls.model_validate(json.loads(Path(source).read_text()))

    def settings_for(self, phase: int, provider: str, path: str) -> ProviderSettings:
        """Merge the layers for one request; `phase` is -1 before the first phase fires."""
        prefix = _longest_prefix(self.providers, path)
        layers = [self.providers.get(provider), self.providers.get(prefix) if prefix else None]
        if phase >= 0:
            active = self.phases[phase]
            prefix = _longest_prefix(active.providers, path)
            layers += [active.default, active.providers.get(provider)]
            layers.append(active.providers.get(prefix) if prefix else None)
        return _merge(self.default, [layer for layer in layers if layer is not None])


@dataclass(frozen=True, slots=True)
class Draw:
    """The outcome of the scenario for one request."""

    seq: int
    phase: int
    settings: ProviderSettings
    fault: str | None
    rng: random.Random


class ScenarioRuntime:
    """A scenario in play: counts requests, tracks time, picks the phase and draws faults.

    Used from the simulator's event-loop thread only; swapping scenarios means swapping runtimes.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.requests = 0
        self._started = time.monotonic()
        self._cache: dict[tuple[int, str, str | None], ProviderSettings] = {}
        self._prefixes = [k for k in scenario.providers if k.startswith("/")]
        self._phase_prefixes = [[k for k in p.providers if k.startswith("/")] for p in scenario.phases]

    def phase(self, seq: int) -> int:
        """Index of the active phase for request number `seq` (1-based), -1 for none."""
        active = -1
        elapsed = time.monotonic() - self._started
        for index, phase in enumerate(self.scenario.phases):
            after_n, after_s = phase.start_after_requests, phase.start_after_s
            if (after_n is not None and seq > after_n) or (after_s is not None and elapsed >= after_s):
                active = index
        return active

    def draw(self, provider: str, path: str) -> Draw:
        self.requests += 1
        seq = self.requests
        phase = self.phase(seq) if self.scenario.phases else -1
        settings = self._settings(phase, provider, path)
        rng = random.Random(self.scenario.seed * 1_000_003 + seq)
        return Draw(seq, phase, settings, _choose_fault(settings, seq, rng), rng)

    def _settings(self, phase: int, provider: str, path: str) -> ProviderSettings:
        prefixes = self._prefixes + (self._phase_prefixes[phase] if phase >= 0 else [])
        matched = "\0".join(p for p in prefixes if path.startswith(p)) or None
        key = (phase, provider, matched)
        settings = self._cache.get(key)
        if settings is None:
            settings = self._cache[key] = self.scenario.settings_for(phase, provider, path)
        return settings


def _choose_fault(settings: ProviderSettings, seq: int, rng: random.Random) -> str | None:
    for kind, every in settings.fault_every_n.items():
        if every > 0 and seq % every == 0:
            return kind
    if settings.faults:
        draw = rng.random()
        for kind, probability in settings.faults.items():
            draw -= probability
            if draw < 0:
                return kind
    return None


def _merge(base: ProviderSettings, layers: list[ProviderSettings]) -> ProviderSettings:
    if not layers:
        return base
    data = base.model_dump()
    for layer in layers:
        for name in layer.model_fields_set:
            value = getattr(layer, name)
            data[name] = {**data[name], **value} if name in _MERGED_MAPS else value
    data["faults"] = {k: p for k, p in data["faults"].items() if p > 0}
    return ProviderSettings.model_validate(data)


def _longest_prefix(keys: dict[str, Any], path: str) -> str | None:
    best = None
    for key in keys:
        if key.startswith("/") and path.startswith(key) and (best is None or len(key) > len(best)):
            best = key
    return best


def _check_keys(keys: dict[str, Any]) -> None:
    for key in keys:
        if key not in PROVIDERS and not key.startswith("/"):
            raise ValueError(f"unknown provider {key!r}: use one of {PROVIDERS} or a route prefix '/...'")


def jittered(base: float, sigma: float, rng: random.Random) -> float:
    """`base` scaled by a lognormal factor of median 1 (unchanged when either is 0)."""
    return base * math.exp(sigma * rng.gauss(0.0, 1.0)) if base and sigma else base
