"""Quality verdicts computed in process from a finished call, exported as verdicts only.

The response text is read here and nowhere else; what leaves is a 0/1 per signal. Change events
(the provider answered with another model, a new system fingerprint, a new JSON shape) need memory
of what each stream looked like before, which `ChangeTracker` keeps, bounded per stream key.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..records import CallRecord

__all__ = ["ChangeEvent", "ChangeTracker", "quality_verdicts"]

_TRUNCATED = frozenset({"length", "max_tokens", "MAX_TOKENS", "max_output_tokens", "model_context_window_exceeded"})
_REFUSED = frozenset(
    {"content_filter", "refusal", "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "blocked",
     "IMAGE_SAFETY", "OTHER_BLOCK", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR", "ESCALATION",
     "JAILBREAK"}
)  # fmt: skip
_GENERATIONS = frozenset({"chat", "text_completion", "generate_content"})
_MAX_VALIDATORS = 256
_validators: OrderedDict[str, Any] = OrderedDict()
_validators_lock = threading.Lock()


def _validator(schema: dict[str, Any]) -> Any:
    """A compiled jsonschema validator per distinct schema (LRU-bounded); None without jsonschema."""
    key = json.dumps(schema, sort_keys=True, default=str)
    with _validators_lock:
        found = _validators.get(key)
        if found is not None:
            _validators.move_to_end(key)
            return found
    try:
        import jsonschema
    except ImportError:  # the drift extra brings it; without it, parse-only checks
        return None
    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validator = cls(schema)
    except Exception:
        return None  # an invalid schema in the request is the app's problem, not a verdict on the provider
    with _validators_lock:
        _validators[key] = validator
        if len(_validators) > _MAX_VALIDATORS:
            _validators.popitem(last=False)
    return validator


def _schema_invalid(record: CallRecord) -> int | None:
    request, response = record.request, record.response
    wants_json = request.output_type == "json" or request.json_schema is not None
    if request.tool_choice_required:
        return 0 if response.tool_call_count > 0 else 1
    if not wants_json:
        return None
    text = response.output_text
    if not text:
        return None if response.tool_call_count else 1
    try:
        value = json.loads(text)
    except ValueError:
        return 1
    if request.json_schema is not None:
        validator = _validator(request.json_schema)
        if validator is not None and not validator.is_valid(value):
            return 1
    return 0


def quality_verdicts(record: CallRecord) -> dict[str, int]:
    """0/1 verdicts for a successful generation; empty for errors and embeddings (nothing to judge),
    and for a stream the app stopped reading (a chat UI's "stop", a cancelled task): its output is
    only the part the app wanted, so it says nothing of truncation, emptiness or a schema. A stream
    the provider cut short is an error (`Call`), not a success with `stream_completed` False."""
    if not record.ok or record.operation not in _GENERATIONS or not record.response.parsed:
        return {}
    if record.stream_completed is False:
        return {}
    response = record.response
    reasons = record.finish_reasons
    verdicts = {
        "refusal": int(response.refusal or not _REFUSED.isdisjoint(reasons)),
        "truncated": int(not _TRUNCATED.isdisjoint(reasons)),
        "empty": int(not response.output_text and response.tool_call_count == 0 and not response.refusal),
    }
    invalid = _schema_invalid(record)
    if invalid is not None:
        verdicts["schema_invalid"] = invalid
    return verdicts


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """A discrete change in what a stream's provider returned: model, fingerprint or JSON shape."""

    kind: str  # "model_mismatch", "fingerprint_changed", "shape_changed"
    before: str
    after: str


_same_models: dict[tuple[str, str], bool] = {}


def _same_model(requested: str, answered: str) -> bool:
    """`_is_same_model`, remembered: a stream asks for and gets the same models call after call."""
    key = (requested, answered)
    found = _same_models.get(key)
    if found is None:
        if len(_same_models) >= 4096:
            _same_models.clear()
        found = _same_models[key] = _is_same_model(requested, answered)
    return found


def _is_same_model(requested: str, answered: str) -> bool:
    """A dated snapshot of the requested alias is the same model (gpt-4o-mini -> gpt-4o-mini-2024-07-18)."""
    requested, answered = requested.lower().removeprefix("models/"), answered.lower().removeprefix("models/")
    return answered == requested or answered.startswith(requested + "-") or answered.startswith(requested + "@")


_NOTHING_SEEN: tuple[str | None, tuple[str, ...]] = (None, ())  # streams without fingerprint or shape share it


class ChangeTracker:
    """Remembers each stream's last fingerprint and response shape (bounded LRU of stream keys)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._seen: OrderedDict[Any, tuple[str | None, tuple[str, ...]]] = OrderedDict()
        # stream -> the model it is answered with instead of the requested one, while that lasts: a
        # substitution is reported when it starts or changes, not on every call (a persistent one,
        # such as an Azure deployment name, would otherwise send an event per call to every sink)
        self._substituted: OrderedDict[Any, tuple[str, str]] = OrderedDict()

    def events(self, key: Any, record: CallRecord) -> list[ChangeEvent]:
        if not record.ok or not record.response.parsed:
            return []
        out: list[ChangeEvent] = []
        requested, answered = record.request_model, record.response_model
        if requested and answered and not _same_model(requested, answered):
            if self._substituted.get(key) != (requested, answered):
                out.append(ChangeEvent("model_mismatch", requested, answered))
                self._substituted[key] = (requested, answered)
                if len(self._substituted) > self.max_keys:
                    self._substituted.popitem(last=False)
        elif self._substituted and requested and answered:
            self._substituted.pop(key, None)  # answered as asked again: a later substitution is news
        fingerprint, shape = record.response.system_fingerprint, record.response.shape
        previous = self._seen.get(key)
        if previous is not None:
            old_fingerprint, old_shape = previous
            if fingerprint and old_fingerprint and fingerprint != old_fingerprint:
                out.append(ChangeEvent("fingerprint_changed", old_fingerprint, fingerprint))
            if shape and old_shape and shape != old_shape:
                added = sorted(set(shape) - set(old_shape))
                removed = sorted(set(old_shape) - set(shape))
                out.append(ChangeEvent("shape_changed", ",".join(removed) or "-", ",".join(added) or "-"))
        seen = (
            fingerprint or (previous[0] if previous else None),
            shape or (previous[1] if previous else ()),
        )
        if seen != previous:  # mostly it is what the stream's last call left: nothing to store
            self._seen[key] = _NOTHING_SEEN if seen == _NOTHING_SEEN else seen
            if len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
        if previous is not None:
            self._seen.move_to_end(key)
        return out
