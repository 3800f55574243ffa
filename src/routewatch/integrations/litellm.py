"""routewatch's health state machine driving a LiteLLM Router, through LiteLLM's own extension points.

    monitor = routewatch.DriftMonitor()
    routewatch.instrument(monitor=monitor)            # sees LiteLLM's provider calls (openai SDK / httpx)
    feedback = attach_litellm(router, monitor)        # alarms demote, probes restore
    ...
    feedback.status()                                 # the ledger: state, weight, reason per deployment
    feedback.detach()

What LiteLLM lacks and this adds (LiteLLM 1.83 recovers a cooled-down deployment when a TTL
expires, with no probe and no ramp): drift alarms as a cause, graded demotion, half-open probes
with a statistical pass rule, slow start, a cap on how much of a model group is out, and a reason
for every move. How it plugs in:

* Exclusion: a ``CustomLogger`` whose ``async_filter_deployments`` drops ejected and probing
  deployments. When a probe is due (``HealthBook.take_probe``) that request is sent to the probing
  deployment alone, so the probe is a real call; LiteLLM's retries and fallbacks still apply. If the
  filter would leave nothing, it leaves the list as it was (fail open), and says so in the log.
* Weights: simple-shuffle (LiteLLM's default strategy) picks by ``litellm_params["weight"]``. Each
  managed deployment's weight is set to its base weight (its own ``weight``, else ``rpm``, else
  ``tpm``, else 1) times 1000 times the health weight factor, at least 1, and restored on detach.
  The field is updated in place on the router's own deployment entry: ``Router.upsert_deployment``
  removes and re-adds the deployment (new clients, new indices) and is not safe against a selection
  running at the same time; a weight is a plain value simple-shuffle reads per request.
* Results: ``log_success_event`` / ``log_failure_event`` and their async variants report every
  call's outcome per deployment id (``HealthBook.on_result``); a 200 with no text and no tool call
  counts as a failure (``empty_output``), as LiteLLM's own fallback logic does not see it.
* Alarms: the monitor's alarms reach the book through `routewatch.router.feedback.Attachment`,
  matched to deployments by provider and model: the model LiteLLM sends on the wire and the provider
  routewatch's classifier gives the deployment's ``api_base`` (with the active ``instrument()``
  mapping), or the explicit ``targets`` mapping.

Known limits: LiteLLM's synchronous selection (``Router.completion``) runs no filter callbacks, so
there an ejected deployment is only weighted down to 1/1000 of its share instead of excluded (its
answers while PROBING still count as probe evidence). A probe is chosen before LiteLLM's later
filters (pre-call context-window checks, tag routing); if one of those rules the probing deployment
out for that request, that one request finds no deployment and LiteLLM's fallbacks apply.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the cost map from the internet

import litellm
from litellm.integrations.custom_logger import CustomLogger

from ..classify import RouteTable
from ..router.feedback import Attachment
from ..router.health import HealthBook, HealthPolicy, TargetHealth, TargetState
from ..router.probes import ProbeFn, SyntheticProber

__all__ = ["LiteLLMFeedback", "attach_litellm", "deployment_target", "deployments_of", "is_litellm_router"]

log = logging.getLogger("routewatch.router")

_WEIGHT_SCALE = 1000
_CALLBACK_LISTS = ("callbacks", "input_callback", "success_callback", "failure_callback", "_async_success_callback",
                   "_async_failure_callback")  # fmt: skip
# LiteLLM provider prefix -> routewatch provider name, for deployments without an api_base.
_PROVIDERS = {
    "openai": "openai", "text-completion-openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai", "vertex_ai_beta": "gcp.vertex_ai", "azure": "azure.ai.openai", "groq": "groq",
    "deepseek": "deepseek", "together_ai": "together_ai", "fireworks_ai": "fireworks", "openrouter": "openrouter",
    "xai": "x_ai", "mistral": "mistral_ai", "cohere": "cohere", "cohere_chat": "cohere", "perplexity": "perplexity",
    "ollama": "ollama", "ollama_chat": "ollama", "bedrock": "aws.bedrock",
}  # fmt: skip
# Path a provider's SDK appends to api_base for a chat call, so the classifier sees a real call.
_CHAT_PATHS = {"anthropic": "/v1/messages", "cohere": "/v2/chat", "cohere_chat": "/v2/chat", "ollama": "/api/generate",
               "ollama_chat": "/api/chat"}  # fmt: skip
_SIGNATURE_HEADERS = {"authorization": "Bearer x", "anthropic-version": "2023-06-01"}


def is_litellm_router(router: Any) -> bool:
    """A ``litellm.Router`` (recognised by its module and deployment list, without deprecated reads)."""
    return type(router).__module__.startswith("litellm.") and deployments_of(router) is not None


def deployments_of(router: Any) -> list[Any] | None:
    """The router's live deployment list: ``registry().all()`` (LiteLLM 1.100+), else ``model_list``.

    LiteLLM 1.110 deprecates the ``model_list`` attribute with a DeprecationWarning on every read.
    """
    registry = getattr(type(router), "registry", None)
    if callable(registry):
        try:
            deployments = router.registry().all()
        except Exception:
            log.debug("routewatch: litellm Router.registry().all() failed", exc_info=True)
        else:
            return deployments if isinstance(deployments, list) else None
    deployments = getattr(router, "model_list", None)
    return deployments if isinstance(deployments, list) else None


def deployment_target(deployment: Mapping[str, Any], routes: RouteTable | None = None) -> tuple[str, str]:
    """(provider, model) of a LiteLLM deployment as routewatch names the stream of its calls."""
    params = deployment.get("litellm_params") or {}
    configured = str(params.get("model") or "")
    api_base = params.get("api_base")
    try:
        model, llm_provider, _, _ = litellm.get_llm_provider(
            model=configured, custom_llm_provider=params.get("custom_llm_provider"), api_base=api_base
        )
    except Exception:
        llm_provider, _, model = configured.partition("/") if "/" in configured else ("", "", configured)
    provider = _PROVIDERS.get(llm_provider, llm_provider or "unknown")
    if api_base:
        parts = urlsplit(str(api_base))
        path = parts.path.rstrip("/")
        suffix = _CHAT_PATHS.get(llm_provider, "/chat/completions")
        if suffix.startswith("/v1/") and path.endswith("/v1"):
            suffix = suffix[3:]
        table = routes if routes is not None else _active_routes()
        route = table.classify("POST", parts.scheme or "https", parts.hostname or "", parts.port, path + suffix,
                               _SIGNATURE_HEADERS)  # fmt: skip
        if route is not None:
            provider = route.provider
    return provider, model


def _active_routes() -> RouteTable:
    from ..api import current_instrumentation

    inst = current_instrumentation()
    return inst.routes if inst is not None else RouteTable()


def _deployment_id(deployment: Mapping[str, Any]) -> str | None:
    info = deployment.get("model_info") or {}
    ident = info.get("id")
    return None if ident is None else str(ident)


def _base_weight(params: Mapping[str, Any]) -> float:
    for key in ("weight", "rpm", "tpm"):
        value = params.get(key)
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    return 1.0


class LiteLLMFeedback(CustomLogger):
    """Registered in ``litellm.callbacks``; excludes, weights and probes one Router's deployments."""

    def __init__(
        self,
        router: Any,
        monitor: Any,
        *,
        policy: HealthPolicy | None = None,
        targets: Mapping[str, tuple[str, str]] | None = None,
        providers: Mapping[str, str] | None = None,
        clock: Callable[[], float] | None = None,
        meter_provider: Any = None,
        tick_interval_s: float | None = 1.0,
        probe: ProbeFn | SyntheticProber | None = None,
    ) -> None:
        super().__init__()
        # LiteLLM de-duplicates loggers by class and public scalar attributes: make each one distinct.
        self.routewatch_feedback_id = f"routewatch-{id(self):x}"
        self.router = router
        self._lock = threading.Lock()
        self._original: dict[str, tuple[bool, Any]] = {}  # id -> (had a weight, its value)
        self._base: dict[str, float] = {}
        self._last_weight: dict[str, int] = {}  # what routewatch last wrote, to tell a user's new weight apart
        self.filtered_out = 0
        self.probes_sent = 0
        self.fail_open = 0
        options: dict[str, Any] = {"meter_provider": meter_provider}
        if clock is not None:
            options["clock"] = clock
        self.health = HealthBook(policy, **options)
        self._targets = dict(targets or {})
        self._routes = RouteTable(providers) if providers is not None else None
        self._scan()
        prober = SyntheticProber(probe) if probe is not None and not isinstance(probe, SyntheticProber) else probe
        self.attachment = Attachment(monitor, self.health, router=router, push=self._apply, results_from_bus=False,
                                     tick_interval_s=tick_interval_s, on_detach=self._unregister,
                                     prober=prober)  # fmt: skip
        self.attachment.integration = self
        litellm.logging_callback_manager.add_litellm_callback(self)

    # --- LiteLLM hooks ------------------------------------------------------------------------------
    async def async_filter_deployments(
        self,
        model: str,
        healthy_deployments: list[Any],
        messages: Any,
        request_kwargs: dict[str, Any] | None = None,
        parent_otel_span: Any = None,
    ) -> list[Any]:
        try:
            return self.filter(healthy_deployments)
        except Exception:
            log.warning("routewatch: deployment filter failed; leaving LiteLLM's list as it was", exc_info=True)
            return healthy_deployments

    def filter(self, deployments: list[Any]) -> list[Any]:
        """Drop ejected and probing deployments; send the request to a probe when one is due."""
        kept: list[Any] = []
        dropped: list[str] = []
        for deployment in deployments:
            ident = _deployment_id(deployment) if isinstance(deployment, Mapping) else None
            if ident is None or ident not in self._base:
                kept.append(deployment)  # not ours
                continue
            if self.health.admits(ident):
                kept.append(deployment)
            elif self.health.take_probe(ident):
                self.probes_sent += 1
                log.info("routewatch: probe call to LiteLLM deployment %s", ident,
                         extra={"routewatch_router": {"target": ident, "probe": True}})  # fmt: skip
                return [deployment]
            else:
                dropped.append(ident)
        if dropped and not kept:
            self.fail_open += 1
            log.warning("routewatch: every candidate deployment is ejected (%s); leaving them in (fail open)",
                        ", ".join(dropped))  # fmt: skip
            return deployments
        self.filtered_out += len(dropped)
        return kept

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, ok=True)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, ok=False)

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, ok=True)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, ok=False)

    # --- API ----------------------------------------------------------------------------------------
    def status(self) -> dict[str, TargetHealth]:
        """The ledger, per deployment id."""
        return self.health.status()

    def tick(self) -> None:
        self.attachment.tick()

    def refresh(self) -> None:
        """Take in deployments added to or removed from the router since attaching (after
        ``set_model_list``, ``add_deployment``, ...); their health carries over by deployment id."""
        self._scan()
        self.attachment.sync(force=True)

    def detach(self) -> None:
        """Unregister from LiteLLM and the monitor, stop the ticker, restore the original weights."""
        self.attachment.detach()

    def _unregister(self) -> None:
        manager = litellm.logging_callback_manager
        for name in _CALLBACK_LISTS:
            entries = getattr(litellm, name, None)
            if isinstance(entries, list):
                manager.remove_callback_from_list_by_object(entries, self, require_self=False)  # type: ignore[no-untyped-call]
        with self._lock:
            for deployment in self._deployments():
                ident = _deployment_id(deployment)
                if ident in self._original:
                    had, value = self._original[ident]
                    params = deployment.setdefault("litellm_params", {})
                    if had:
                        params["weight"] = value
                    else:
                        params.pop("weight", None)

    # --- internals ----------------------------------------------------------------------------------
    def _scan(self) -> None:
        seen: set[str] = set()
        for deployment in self._deployments():
            ident = _deployment_id(deployment)
            if ident is None:
                continue
            seen.add(ident)
            provider, model = self._targets.get(ident) or deployment_target(deployment, self._routes)
            group = str(deployment.get("model_name") or "")
            self.health.add_target(ident, provider=provider, model=model, groups=(group,) if group else ())
            params = deployment.setdefault("litellm_params", {})
            with self._lock:
                if ident not in self._base or params.get("weight") != self._last_weight.get(ident):
                    self._original[ident] = ("weight" in params, params.get("weight"))
                    self._base[ident] = _base_weight(params)
        for ident in set(self._base) - seen:
            self.health.remove_target(ident)
            with self._lock:
                self._base.pop(ident, None)
                self._original.pop(ident, None)

    def _deployments(self) -> Iterable[dict[str, Any]]:
        return [d for d in (deployments_of(self.router) or []) if isinstance(d, dict)]

    def _apply(self, ident: str, health: TargetHealth) -> None:
        weight = max(1, round(self._base.get(ident, 1.0) * _WEIGHT_SCALE * health.weight_factor))
        with self._lock:
            self._last_weight[ident] = weight
            for deployment in self._deployments():
                if _deployment_id(deployment) == ident:
                    deployment.setdefault("litellm_params", {})["weight"] = weight

    def _record(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any, *, ok: bool) -> None:
        try:
            params = (kwargs or {}).get("litellm_params") or {}
            ident = _deployment_id(params)
            if ident is None or ident not in self._base:
                return
            status: int | None = None
            error_type: str | None = None
            if ok:
                if _empty_reply(response_obj):
                    ok, error_type = False, "empty_output"
            else:
                exc = kwargs.get("exception")
                code = getattr(exc, "status_code", None)
                status = code if isinstance(code, int) else None
                error_type = type(exc).__name__ if exc is not None else "error"
            latency = _seconds(start_time, end_time)
            probe = self.health.state(ident) is TargetState.PROBING
            self.attachment.on_result(ident, ok=ok, status_code=status, error_type=error_type, latency_s=latency,
                                      probe=probe)  # fmt: skip
        except Exception:
            log.warning("routewatch: could not record a LiteLLM call result", exc_info=True)


def _seconds(start: Any, end: Any) -> float | None:
    try:
        delta = end - start
        return float(delta.total_seconds()) if hasattr(delta, "total_seconds") else float(delta)
    except Exception:
        return None


def _empty_reply(response: Any) -> bool:
    """A chat completion whose first choice has neither text nor tool calls."""
    choices = getattr(response, "choices", None)
    if not choices:
        return False
    message = getattr(choices[0], "message", None)
    if message is None:
        return False  # streamed or non-chat responses are judged by the monitor's quality signals
    content = getattr(message, "content", None)
    return not content and not getattr(message, "tool_calls", None) and not getattr(message, "function_call", None)


def attach_litellm(
    litellm_router: Any,
    monitor: Any,
    *,
    policy: HealthPolicy | None = None,
    targets: Mapping[str, tuple[str, str]] | None = None,
    providers: Mapping[str, str] | None = None,
    clock: Callable[[], float] | None = None,
    meter_provider: Any = None,
    tick_interval_s: float | None = 1.0,
    probe: ProbeFn | SyntheticProber | None = None,
) -> LiteLLMFeedback:
    """Let `monitor`'s alarms and the router's own call results demote, eject, probe and restore the
    deployments of `litellm_router` (a ``litellm.Router``).

    `targets` maps deployment ids (``model_info.id``) to (provider, model) when deriving them from
    ``litellm_params`` is not right; `providers` maps base URLs to provider names as in
    ``routewatch.instrument(providers=...)`` (default: the active instrumentation's mapping). `probe`:
    ``probe(deployment_id)``, sent when a probing deployment's due probe found no request (see
    `routewatch.router.probes`); without it, probes are the router's own requests only.
    """
    if deployments_of(litellm_router) is None:
        raise TypeError(f"attach_litellm needs a litellm.Router, got {type(litellm_router).__name__}")
    if not callable(getattr(monitor, "subscribe", None)):
        raise TypeError(f"attach_litellm needs a DriftMonitor, got {type(monitor).__name__}")
    return LiteLLMFeedback(litellm_router, monitor, policy=policy, targets=targets, providers=providers, clock=clock,
                           meter_provider=meter_provider, tick_interval_s=tick_interval_s, probe=probe)  # fmt: skip
