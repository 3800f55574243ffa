"""The router's configuration: targets, per-task policies, failover limits, as validated pydantic models.

A config comes from code (`RouterConfig(...)` or a dict) or from a YAML/TOML file (`load_config`).
Every error names the field it is about (`targets[1] (backup).weight: ...`) and never echoes a
value, so a key pasted in the wrong place does not end up in a log.

    targets:
      - {name: primary, provider: openai, model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}
      - {name: backup, provider: anthropic, model: claude-3-5-haiku-latest, priority: 1}
    tasks:
      default: {strategy: priority}
      structured_output: {strategy: cost, objectives: {max_p95_latency_s: 4}}
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "Canary",
    "ClassifierConfig",
    "ConfigError",
    "Objectives",
    "Prices",
    "RetryBudgetConfig",
    "RouterConfig",
    "Rule",
    "Shadow",
    "StatsConfig",
    "Target",
    "TaskPolicy",
    "as_config",
    "load_config",
]

_NAME = r"^[A-Za-z0-9_.:\-]{1,64}$"
_Strict = ConfigDict(frozen=True, extra="forbid")


class ConfigError(ValueError):
    """A config that cannot be used; the message lists each bad field by its path."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class Prices(BaseModel):
    """USD per million tokens; overrides the genai-prices table for one target."""

    model_config = _Strict
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cache_read_per_mtok: float | None = Field(default=None, ge=0)
    cache_write_per_mtok: float | None = Field(default=None, ge=0)


class Target(BaseModel):
    """One place a request can go: a provider, a model and how to reach it.

    `client` (code only, never serialised) is a ready SDK client; otherwise one is built on first
    use from `provider`, `base_url` and the key in the environment variable `api_key_env`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(pattern=_NAME)
    provider: str = Field(min_length=1, description="gen_ai.provider.name, e.g. openai, anthropic, gcp.gemini")
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    client: Any = Field(default=None, exclude=True, repr=False)
    prices: Prices | None = None
    tags: tuple[str, ...] = Field(default=(), description="Capabilities, e.g. tool_use, long_context, vision")
    weight: float = Field(default=1.0, ge=0, allow_inf_nan=False)  # inf: selection's inf - inf is NaN
    priority: int = Field(default=0, ge=0, description="Lower is preferred (priority strategy)")
    timeout_s: float | None = Field(default=60.0, gt=0)
    sdk_max_retries: int = Field(default=0, ge=0, le=10, description="Retries inside the SDK before failover")

    @model_validator(mode="before")
    @classmethod
    def _no_inline_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "api_key" in data:
            raise ValueError("keys never go in the config: set an environment variable and name it in api_key_env")
        return data

    def client_signature(self) -> tuple[Any, ...]:
        """What a built client depends on; a change means the client must be rebuilt."""
        return (self.provider, self.base_url, self.api_key_env, self.timeout_s, self.sdk_max_retries, id(self.client))


class Objectives(BaseModel):
    """Service objectives a target must meet (from live statistics) to be chosen by the cost strategy."""

    model_config = _Strict
    max_p95_latency_s: float | None = Field(default=None, gt=0)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    max_quality_failure_rate: float | None = Field(default=None, ge=0, le=1)
    min_samples: int = Field(default=20, ge=1, description="Below this, a target is given the benefit of the doubt")


class Canary(BaseModel):
    """Send `percent` % of the task's requests to `target`, the rest by the strategy."""

    model_config = _Strict
    target: str
    percent: float = Field(gt=0, le=100)


class Shadow(BaseModel):
    """Mirror a sample of requests to `target` in the background and record how it compares."""

    model_config = _Strict
    target: str
    sample_rate: float = Field(default=0.05, gt=0, le=1)
    max_concurrent: int = Field(default=4, ge=1, le=64)


class TaskPolicy(BaseModel):
    """How one task class picks among its candidate targets.

    Strategies: `priority` (lowest priority level first; a level that is partly demoted spills the
    demoted share to the next level, as Envoy's overprovisioning factor does), `weighted`
    (random by effective weight), `cost` (cheapest target meeting `objectives`), `latency` (lowest
    time-to-first-token p95 in the request's prompt-length bucket). `canary` and `shadow` combine
    with any strategy.
    """

    model_config = _Strict
    strategy: Literal["priority", "weighted", "cost", "latency"] = "priority"
    targets: tuple[str, ...] | None = Field(default=None, description="Candidates; default: every target")
    require_tags: tuple[str, ...] = ()
    objectives: Objectives = Field(default_factory=Objectives)
    canary: Canary | None = None
    shadow: Shadow | None = None
    max_attempts: int = Field(default=3, ge=1, le=10, description="Targets tried per request, first one included")
    explore: float = Field(default=0.02, ge=0, le=0.5, description="cost/latency: share sent off the best target")
    overprovision: float = Field(default=1.4, ge=1, le=10, description="priority: Envoy's overprovisioning factor")
    prompt_buckets: tuple[int, ...] = Field(default=(1_000, 8_000, 32_000), description="latency: token bounds")
    expected_input_tokens: int = Field(default=1_000, ge=0, description="cost: tokens assumed before live costs")
    expected_output_tokens: int = Field(default=250, ge=0)

    @field_validator("prompt_buckets")
    @classmethod
    def _increasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if list(value) != sorted(set(value)) or any(v <= 0 for v in value):
            raise ValueError("prompt_buckets must be positive and strictly increasing")
        return value


class Rule(BaseModel):
    """A classifier rule: the request gets `task` when every condition given holds."""

    model_config = _Strict
    task: str = Field(pattern=_NAME)
    has: tuple[str, ...] = Field(default=(), description="Request keys that must be present and non-empty (any)")
    equals: dict[str, str | int | float | bool] = Field(default_factory=dict)
    min_prompt_tokens: int | None = Field(default=None, ge=0)
    max_prompt_tokens: int | None = Field(default=None, ge=0)


class ClassifierConfig(BaseModel):
    """Rules that name a task class when the caller did not; custom rules run before the built-in ones."""

    model_config = _Strict
    rules: tuple[Rule, ...] = ()
    builtin: bool = Field(default=True, description="tool_use, structured_output, long_context rules")
    long_context_tokens: int = Field(default=8_000, ge=1)


class RetryBudgetConfig(BaseModel):
    """Failover attempts allowed: at most `ratio` x requests in the last `window_s`, plus `min_retries`.

    Like Envoy's and gRPC's retry budgets, it keeps a provider outage from doubling the load.
    """

    model_config = _Strict
    ratio: float = Field(default=0.2, ge=0, le=1)
    min_retries: int = Field(default=5, ge=0)
    window_s: float = Field(default=10.0, gt=0)
    max_retry_after_s: float = Field(default=30.0, ge=0, description="Cap on honoured Retry-After skips")


class StatsConfig(BaseModel):
    """Live per-target statistics: samples kept for `window_s`, at most `max_samples` per target."""

    model_config = _Strict
    window_s: float = Field(default=300.0, gt=0)
    max_samples: int = Field(default=512, ge=16, le=100_000)


class RouterConfig(BaseModel):
    """Everything a `Router` needs; immutable, swapped whole by `Router.update`."""

    model_config = _Strict
    name: str = Field(default="default", pattern=_NAME)
    targets: tuple[Target, ...] = Field(min_length=1)
    tasks: dict[str, TaskPolicy] = Field(default_factory=dict)
    default_task: str = "default"
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    retry_budget: RetryBudgetConfig = Field(default_factory=RetryBudgetConfig)
    stats: StatsConfig = Field(default_factory=StatsConfig)
    health: dict[str, Any] = Field(default_factory=dict, description="HealthPolicy fields")

    @field_validator("health")
    @classmethod
    def _health_policy(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Checked as a field, so an error's path is ``health.<field>``, not a bare name that reads as
        a top-level field of the router config."""
        _check_health(value)
        return value

    @model_validator(mode="after")
    def _references(self) -> RouterConfig:
        names = [t.name for t in self.targets]
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                raise ValueError(f"targets[{index}]: duplicate target name {name!r}")
            seen.add(name)
        known = ", ".join(names)
        for task, policy in self.tasks.items():
            where = f"tasks.{task}"
            for i, name in enumerate(policy.targets or ()):
                if name not in seen:
                    raise ValueError(f"{where}.targets[{i}]: unknown target {name!r} (known: {known})")
            for part in ("canary", "shadow"):
                ref = getattr(policy, part)
                if ref is not None and ref.target not in seen:
                    raise ValueError(f"{where}.{part}.target: unknown target {ref.target!r} (known: {known})")
            if not self.candidates(task):
                raise ValueError(f"{where}: no target matches (targets/require_tags leave none)")
        return self

    def policy(self, task: str) -> TaskPolicy:
        """The policy for `task`, else the default task's, else the built-in default (priority)."""
        return self.tasks.get(task) or self.tasks.get(self.default_task) or _DEFAULT_POLICY

    def candidates(self, task: str) -> tuple[Target, ...]:
        """The task's candidate targets, in config order; canary and shadow targets are not included."""
        policy = self.policy(task)
        names = set(policy.targets) if policy.targets is not None else None
        side = {p.target for p in (policy.canary, policy.shadow) if p is not None}
        return tuple(
            t
            for t in self.targets
            if (names is None or t.name in names)
            and set(policy.require_tags) <= set(t.tags)
            and (t.name not in side or (names is not None and t.name in names))
        )

    def target(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)


_DEFAULT_POLICY = TaskPolicy()


def _check_health(health: dict[str, Any]) -> None:
    """Validate the health section against R1's HealthPolicy (when present) so errors name the field."""
    try:
        from .health import HealthPolicy
    except ImportError:  # pragma: no cover - health lands with the feedback workstream
        return
    HealthPolicy(**health)


def _location(loc: tuple[int | str, ...], data: Any) -> str:
    """('targets', 1, 'weight') -> 'targets[1] (backup).weight', naming list items by their name."""
    text = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            item = node[part] if isinstance(node, (list, tuple)) and -len(node) <= part < len(node) else None
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                text += f" ({item['name']})"
            node = item
        else:
            text += f".{part}" if text else str(part)
            node = node.get(part) if isinstance(node, Mapping) else None
    return text or "(top level)"


def _problems(error: ValidationError, data: Any) -> tuple[str, ...]:
    out = []
    items = error.errors(include_input=False, include_url=False)
    for item in items:
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if item["type"] == "too_short" and any(len(o["loc"]) > len(loc) and o["loc"][: len(loc)] == loc for o in items):
            continue  # the list is short only because its bad items were dropped: those are the errors
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required field missing"
        out.append(f"{_location(loc, data)}: {message}" if loc else message)
    return tuple(out)


def as_config(config: RouterConfig | Mapping[str, Any] | str | os.PathLike[str]) -> RouterConfig:
    """A RouterConfig from a config, a dict, or a path to a YAML/TOML/JSON file."""
    if isinstance(config, RouterConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    if isinstance(config, Mapping):
        return _validate(config, "config")
    raise TypeError(f"a router config is a RouterConfig, a dict or a file path, got {type(config).__name__}")


def _validate(data: Any, source: str) -> RouterConfig:
    try:
        return RouterConfig.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc, data)
        lines = "\n  ".join(problems)
        raise ConfigError(f"{source}: {len(problems)} problem(s):\n  {lines}", problems) from None


def load_config(path: str | os.PathLike[str]) -> RouterConfig:
    """Read and validate a router config from YAML (.yaml/.yml), TOML (.toml) or JSON (.json).

    Raises ConfigError with one line per bad field (syntax errors give the line), never the values.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read ({exc.strerror or exc})") from None
    data = _parse(file, text)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{file}: the top level must be a mapping, got {type(data).__name__}")
    return _validate(data, str(file))


def _parse(file: Path, text: str) -> Any:
    suffix = file.suffix.lower()
    if suffix == ".toml":
        return _parse_toml(file, text)
    try:
        if suffix == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except Exception as exc:  # yaml.YAMLError: keep its position, drop the echoed snippet
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{file}: invalid YAML{where}: {problem}") from None


def _parse_toml(file: Path, text: str) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[import-not-found, no-redef]
        except ImportError:
            raise ConfigError(f"{file}: TOML configs need Python 3.11+ or `pip install tomli`") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
