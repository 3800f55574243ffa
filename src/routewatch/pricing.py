"""What a call cost in USD, from the `genai-prices` table or the user's own prices.

`PriceBook.cost` runs on every finished call, so the expensive part (matching a model name to a
table entry, ~0.3 ms through `genai_prices.calc_price`) happens once per (provider, model); later
calls are float arithmetic over the cached per-token rates (~1 µs). A model the table does not know
is *unpriced* (`usd=None`), never free. Prices never come from the network unless
`PriceBook(auto_update=True)` starts genai-prices' background updater.

Token accounting follows `Usage`: input includes cache reads and writes, output includes reasoning.
genai-prices counts the same way (its `input_tokens` is the total and `cache_read_tokens` a part of
it), so cache reads are billed once, at the cache rate.

>>> book = PriceBook(overrides={"my-model": ModelPrice(input_per_mtok=1.0, output_per_mtok=2.0)})
>>> book.cost("vllm", "my-model", Usage(input_tokens=1_000_000, output_tokens=500_000))
PriceResult(usd=2.0, priced=True, source='override')
>>> book.cost("vllm", "other-model", Usage(input_tokens=10, output_tokens=5))
PriceResult(usd=None, priced=False, source='unpriced')
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from datetime import time as dtime
from typing import TYPE_CHECKING, Any

from routewatch.records import Usage

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo
    from genai_prices.types import ModelPrice as TablePrice

__all__ = [
    "ENV_PRICES_FILE",
    "PROVIDER_IDS",
    "ModelPrice",
    "PriceBook",
    "PriceResult",
    "load_price_overrides",
]

_log = logging.getLogger(__name__)

ENV_PRICES_FILE = "ROUTEWATCH_PRICES_FILE"

# gen_ai.provider.name -> genai-prices provider id. Absent (ollama, vllm, anything unknown): unpriced.
PROVIDER_IDS: Mapping[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "aws.bedrock": "aws",
    "mistral_ai": "mistral",
    "cohere": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "x_ai": "x-ai",
    "perplexity": "perplexity",
    "together": "together",
    "together_ai": "together",
    "fireworks": "fireworks",
    "openrouter": "openrouter",
    "cerebras": "cerebras",
    "novita": "novita",
}

_MAX_CACHED = 10_000  # distinct (provider, model) pairs; the cache is cleared past this
_DATE_SUFFIX = re.compile(r"[-@](?:\d{4}-\d{2}-\d{2}|\d{8})$")
_UTC = timezone.utc


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """A user-supplied price in USD per million tokens; an absent cache price bills at the input rate."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok"):
            value = getattr(self, name)
            if value is None and name.startswith("cache"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f"ModelPrice.{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class PriceResult:
    """The cost of one call: `usd` is None when the model is unpriced or usage unknown."""

    usd: float | None
    priced: bool
    source: str


@dataclass(frozen=True, slots=True)
class _Rates:
    """USD per token (per request for `request`); None means the table has no separate rate."""

    input: float
    output: float
    cache_read: float | None
    cache_write: float | None
    reasoning: float | None
    request: float


# A model's rates: the base, then (threshold, rates) pairs, highest threshold first, that apply
# when total input tokens exceed the threshold (genai-prices' "cliff" tiers).
_Plan = tuple[_Rates, tuple[tuple[int, _Rates], ...]]


class _Entry:
    """A resolved (provider, model): its source and current plan, valid until `state[1]` (unix s)."""

    __slots__ = ("model", "plans", "source", "state", "unknown_usage")

    def __init__(self, source: str, plan: _Plan, model: ModelInfo | None = None) -> None:
        self.source = source
        self.unknown_usage = PriceResult(None, True, source)
        self.model = model
        self.plans: dict[int, tuple[TablePrice, _Plan]] = {}
        self.state: tuple[_Plan, float] = (plan, math.inf)


_UNPRICED = PriceResult(None, False, "unpriced")
_NO_PRICE = _Entry("unpriced", (_Rates(0.0, 0.0, None, None, None, 0.0), ()))  # cached "not in any table"
#: Every book, for the fork hooks below.
_books: weakref.WeakSet[PriceBook] = weakref.WeakSet()
_held_at_fork: list[PriceBook] = []
#: How long a `fork()` waits for a price lookup in progress before going ahead without it.
_FORK_WAIT_S = 5.0


def _before_fork() -> None:
    """Let a lookup in progress finish before the process forks (at most once in practice: the
    warm-up that `instrument()` starts loads the table, ~0.25 s, under the book's lock). A child
    forked in the middle would inherit that lock, and the table module's import lock, held by a
    thread it does not have: every priced call of a pre-fork server's worker would wait forever."""
    _held_at_fork[:] = [book for book in list(_books) if book._lock.acquire(timeout=_FORK_WAIT_S)]


def _after_fork_in_parent() -> None:
    for book in _held_at_fork:
        book._lock.release()
    _held_at_fork.clear()


def _after_fork_in_child() -> None:
    for book in list(_books):
        book._lock = threading.Lock()  # one thread here: a lookup the wait gave up on is not ours
    _held_at_fork.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


class PriceBook:
    """Prices calls by (provider, model, usage); overrides win over the genai-prices table.

    `overrides` keys are `"provider/model"` or `"model"` (case-insensitive; a model name with a
    date suffix such as `-2024-08-06` or `@20250929` also matches its undated key). A bad override
    raises `ValueError`. Safe to share between threads.
    """

    def __init__(self, overrides: Mapping[str, ModelPrice] | None = None, *, auto_update: bool = False) -> None:
        self.overrides: dict[str, ModelPrice] = {}
        for key, price in (overrides or {}).items():
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"price override key must be a non-empty string, got {key!r}")
            if not isinstance(price, ModelPrice):
                raise ValueError(f"price override {key!r} must be a ModelPrice, got {type(price).__name__}")
            self.overrides[key.strip().lower()] = price
        self.auto_update = auto_update
        self._cache: dict[tuple[str, str | None], _Entry] = {}
        self._lock = threading.Lock()
        _books.add(self)
        self._snapshot: object = None  # the genai-prices data the cached entries came from
        self._get_snapshot: Callable[[], object] | None = None
        self._updater: Any = None
        if auto_update:
            from genai_prices import UpdatePrices

            self._updater = UpdatePrices()
            self._updater.start()

    @classmethod
    def from_env(
        cls,
        *,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, ModelPrice] | None = None,
        auto_update: bool = False,
    ) -> PriceBook:
        """A book with the overrides in the file named by `ROUTEWATCH_PRICES_FILE`, if set.

        The file is a JSON object mapping override keys to prices per million tokens::

            {"openai/gpt-4o": {"input_per_mtok": 2.5, "output_per_mtok": 10, "cache_read_per_mtok": 1.25},
             "my-finetune": {"input_per_mtok": 0.3, "output_per_mtok": 1.2}}

        A missing or malformed file logs a warning and is ignored. Explicit `overrides` win over it.
        """
        path = (os.environ if environ is None else environ).get(ENV_PRICES_FILE)
        merged: dict[str, ModelPrice] = {}
        if path:
            try:
                merged = load_price_overrides(path)
            except Exception as exc:
                _log.warning("ignoring price overrides from %s=%r: %s", ENV_PRICES_FILE, path, exc)
        merged.update(overrides or {})
        return cls(merged, auto_update=auto_update)

    def close(self) -> None:
        """Stop the background price updater, if this book started one."""
        if self._updater is not None:
            self._updater.stop()
            self._updater = None

    def cost(self, provider: str, model: str | None, usage: Usage) -> PriceResult:
        """The USD cost of one call; never raises on odd usage (negative counts give `usd=None`)."""
        if self._get_snapshot is not None and self._get_snapshot() is not self._snapshot:
            self._forget_table()
        entry = self._cache.get((provider, model))
        if entry is None:
            entry = self._fill(provider, model)
        if entry is _NO_PRICE:
            return _UNPRICED
        if usage.input_tokens is None and usage.output_tokens is None:
            return entry.unknown_usage
        plan, valid_until = entry.state
        if valid_until != math.inf and time.time() >= valid_until:
            plan = self._refresh(entry)
        return PriceResult(_usd(plan, usage), True, entry.source)

    def _forget_table(self) -> None:
        """The background updater swapped the price data: resolve every model again."""
        with self._lock:
            assert self._get_snapshot is not None
            self._snapshot = self._get_snapshot()
            self._cache = {}

    def _fill(self, provider: str, model: str | None) -> _Entry:
        with self._lock:
            key = (provider, model)
            entry = self._cache.get(key)
            if entry is not None:
                return entry
            entry = self._resolve(provider, model)
            if len(self._cache) >= _MAX_CACHED:
                self._cache = {}
            self._cache[key] = entry
            return entry

    def _resolve(self, provider: str, model: str | None) -> _Entry:
        if model is None:
            return _NO_PRICE
        price = self._override(provider, model.strip().lower())
        if price is not None:
            return _Entry("override", (_override_rates(price), ()))
        provider_id = PROVIDER_IDS.get(provider)
        if provider_id is None:
            return _NO_PRICE
        try:
            from genai_prices import Usage as TableUsage
            from genai_prices import __version__, calc_price, data_snapshot

            if self._get_snapshot is None:
                self._get_snapshot = data_snapshot.get_snapshot
                self._snapshot = data_snapshot.get_snapshot()
            found = calc_price(TableUsage(), model, provider_id=provider_id)
        except LookupError:
            return _NO_PRICE
        except Exception:
            _log.warning("genai-prices failed on %s/%s; leaving it unpriced", provider, model, exc_info=True)
            return _NO_PRICE
        source = f"genai-prices {__version__} ({found.provider.id}/{found.model.id})"
        entry = _Entry(source, _compile(found.model_price), found.model)
        if not _is_static(found.model):
            self._refresh(entry)
        return entry

    def _override(self, provider: str, model: str) -> ModelPrice | None:
        if not self.overrides:
            return None
        undated = _DATE_SUFFIX.sub("", model)
        for key in (f"{provider}/{model}", model, f"{provider}/{undated}", undated):
            if key in self.overrides:
                return self.overrides[key]
        return None

    def _refresh(self, entry: _Entry) -> _Plan:
        """Re-pick a time-dependent model's prices (start dates, off-peak hours) for now."""
        assert entry.model is not None
        now = datetime.now(_UTC)
        table_price = entry.model.get_prices(now)
        known = entry.plans.get(id(table_price))
        if known is None:
            known = entry.plans[id(table_price)] = (table_price, _compile(table_price))
        entry.state = (known[1], _next_change(entry.model, now))
        return known[1]


def load_price_overrides(path: str | os.PathLike[str]) -> dict[str, ModelPrice]:
    """Read an overrides file (format in `PriceBook.from_env`); raises `OSError` or `ValueError`."""
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object mapping 'provider/model' or 'model' to prices")
    fields = set(ModelPrice.__dataclass_fields__)
    out: dict[str, ModelPrice] = {}
    for key, value in raw.items():
        if not isinstance(value, dict) or not value.keys() <= fields:
            raise ValueError(f"{key!r}: expected an object with keys among {sorted(fields)}")
        try:
            out[key] = ModelPrice(**value)
        except TypeError as exc:  # a required field is missing
            raise ValueError(f"{key!r}: {exc}") from exc
    return out


def _usd(plan: _Plan, usage: Usage) -> float | None:
    inp = usage.input_tokens or 0
    out = usage.output_tokens or 0
    cache_read = usage.cache_read_input_tokens or 0
    cache_write = usage.cache_creation_input_tokens or 0
    reasoning = usage.reasoning_output_tokens or 0
    if inp < 0 or out < 0 or cache_read < 0 or cache_write < 0 or reasoning < 0:
        return None
    rates, tiers = plan
    for threshold, tier_rates in tiers:
        if inp > threshold:
            rates = tier_rates
            break
    usd = rates.request
    if rates.cache_read is not None:
        usd += cache_read * rates.cache_read
        inp -= cache_read
    if rates.cache_write is not None:
        usd += cache_write * rates.cache_write
        inp -= cache_write
    if rates.reasoning is not None:
        usd += reasoning * rates.reasoning
        out -= reasoning
    # Cached parts larger than the reported total: trust the parts, bill no uncached input.
    return usd + max(inp, 0) * rates.input + max(out, 0) * rates.output


def _override_rates(price: ModelPrice) -> _Rates:
    def per_token(mtok: float | None) -> float | None:
        return None if mtok is None else mtok / 1e6

    return _Rates(
        price.input_per_mtok / 1e6,
        price.output_per_mtok / 1e6,
        per_token(price.cache_read_per_mtok),
        per_token(price.cache_write_per_mtok),
        None,
        0.0,
    )


_TABLE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "output_reasoning_mtok")


def _compile(table_price: TablePrice) -> _Plan:
    """Turn a genai-prices `ModelPrice` into float rates, one `_Rates` per tier threshold.

    Only keys that `Usage` can feed matter: every other unit (audio, images, searches) has a
    count of 0 here, so it adds nothing and takes nothing out of its parent unit.
    """
    from genai_prices.types import TieredPrices

    prices = [getattr(table_price, key, None) for key in _TABLE_KEYS]
    thresholds = sorted({tier.start for p in prices if isinstance(p, TieredPrices) for tier in p.tiers}, reverse=True)
    request = getattr(table_price, "requests_kcount", None)
    request_usd = 0.0 if request is None else float(request) / 1000

    def rates_at(threshold: int) -> _Rates:
        per_token: list[float | None] = []
        for p in prices:
            if isinstance(p, TieredPrices):
                applicable = [tier.price for tier in p.tiers if tier.start <= threshold]
                p = applicable[-1] if applicable else p.base
            per_token.append(None if p is None else float(p) / 1e6)
        inp, out, cache_read, cache_write, reasoning = per_token
        return _Rates(inp or 0.0, out or 0.0, cache_read, cache_write, reasoning, request_usd)

    return rates_at(-1), tuple((t, rates_at(t)) for t in thresholds)


def _is_static(model: ModelInfo) -> bool:
    from genai_prices.types import ModelPrice as TablePrice

    return isinstance(model.prices, TablePrice)


def _next_change(model: ModelInfo, now: datetime) -> float:
    """Unix time of the next start date or off-peak boundary after `now` (inf if none)."""
    from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

    assert isinstance(model.prices, list)
    changes = [math.inf]
    for conditional in model.prices:
        constraint = conditional.constraint
        if isinstance(constraint, StartDateConstraint):
            changes.append(datetime.combine(constraint.start_date, dtime(0), _UTC).timestamp())
        elif isinstance(constraint, TimeOfDateConstraint):
            for moment in (constraint.start_time, constraint.end_time):
                day = datetime.combine(now.date() - timedelta(days=1), moment, moment.tzinfo or _UTC)
                changes.extend((day + timedelta(days=n)).timestamp() for n in range(4))
        elif constraint is not None:
            changes.append(now.timestamp() + 60)  # unknown kind: look again in a minute
    return min(t for t in changes if t > now.timestamp())
