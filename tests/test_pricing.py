"""PriceBook: genai-prices table lookups, cache accounting, overrides, and the env file."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import warnings
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest
from genai_prices import data_snapshot
from genai_prices import types as gp
from hypothesis import given, settings
from hypothesis import strategies as st

from factories import exit_code_in_forked_child
from routewatch.pricing import ENV_PRICES_FILE, ModelPrice, PriceBook, PriceResult, load_price_overrides
from routewatch.records import Usage


def table_usd(usage: Usage, model: str, provider_id: str) -> float:
    """What genai-prices itself charges for `usage` (its input_tokens also include cache tokens)."""
    table_usage = genai_prices.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
        output_reasoning_tokens=usage.reasoning_output_tokens,
    )
    return float(genai_prices.calc_price(table_usage, model, provider_id=provider_id).total_price)


CACHED = Usage(
    input_tokens=12_000,
    output_tokens=900,
    cache_read_input_tokens=8_000,
    cache_creation_input_tokens=2_000,
    reasoning_output_tokens=300,
)

# --- the table -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "provider_id"),
    [
        ("openai", "gpt-4o", "openai"),
        ("openai", "gpt-4o-mini", "openai"),
        ("anthropic", "claude-sonnet-4-5", "anthropic"),
        ("anthropic", "claude-3-5-haiku-latest", "anthropic"),
        ("gcp.gemini", "gemini-2.5-flash", "google"),
        ("gcp.gemini", "gemini-2.5-pro", "google"),
    ],
)
def test_known_model_costs_what_genai_prices_charges(provider: str, model: str, provider_id: str) -> None:
    result = PriceBook().cost(provider, model, CACHED)
    assert result.priced
    assert result.usd == pytest.approx(table_usd(CACHED, model, provider_id), rel=1e-9)


def test_cache_reads_are_billed_once_at_the_cache_rate() -> None:
    # gpt-4o: $2.50 input, $1.25 cached input, $10 output per million tokens.
    usage = Usage(input_tokens=1_000, output_tokens=200, cache_read_input_tokens=400)
    usd = PriceBook().cost("openai", "gpt-4o", usage).usd
    assert usd == pytest.approx((600 * 2.5 + 400 * 1.25 + 200 * 10) / 1e6)


def test_anthropic_cache_writes_are_billed_at_the_cache_write_rate() -> None:
    # claude-sonnet-4-5: $3 input, $0.30 cache read, $3.75 cache write, $15 output per million.
    usage = Usage(
        input_tokens=10_000, output_tokens=0, cache_read_input_tokens=4_000, cache_creation_input_tokens=5_000
    )
    usd = PriceBook().cost("anthropic", "claude-sonnet-4-5", usage).usd
    assert usd == pytest.approx((1_000 * 3 + 4_000 * 0.3 + 5_000 * 3.75) / 1e6)


def test_long_context_tier_applies_above_its_threshold() -> None:
    usage = Usage(input_tokens=250_000, output_tokens=1_000, cache_read_input_tokens=50_000)
    book = PriceBook()
    above = book.cost("gcp.gemini", "gemini-2.5-pro", usage).usd
    below = book.cost("gcp.gemini", "gemini-2.5-pro", Usage(input_tokens=150_000, output_tokens=1_000)).usd
    assert above == pytest.approx(table_usd(usage, "gemini-2.5-pro", "google"), rel=1e-9)
    assert above is not None and below is not None
    assert above / 250_000 > below / 150_000


@pytest.mark.parametrize(
    ("provider", "model", "source"),
    [
        ("openai", "gpt-4o-2024-08-06", "openai/gpt-4o"),
        ("anthropic", "claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5"),
        ("gcp.vertex_ai", "claude-sonnet-4-5@20250929", "google/claude-sonnet-4-5"),
        ("azure.ai.openai", "gpt-4o", "azure/gpt-4o"),
    ],
)
def test_dated_and_hosted_model_names_resolve_to_the_table_entry(provider: str, model: str, source: str) -> None:
    result = PriceBook().cost(provider, model, CACHED)
    assert result.priced and result.usd is not None and result.usd > 0
    assert result.source == f"genai-prices {genai_prices.__version__} ({source})"


def test_unknown_model_is_unpriced_not_free() -> None:
    assert PriceBook().cost("openai", "gpt-nonexistent-9", CACHED) == PriceResult(None, False, "unpriced")


def test_missing_model_name_is_unpriced() -> None:
    assert PriceBook().cost("openai", None, CACHED) == PriceResult(None, False, "unpriced")


@pytest.mark.parametrize("provider", ["ollama", "vllm", "unknown", "my-gateway"])
def test_self_hosted_and_unknown_providers_are_unpriced(provider: str) -> None:
    # Even for a model name the table knows: a local llama costs what the hardware costs.
    assert PriceBook().cost(provider, "gpt-4o", CACHED) == PriceResult(None, False, "unpriced")


def test_unknown_usage_of_a_known_model_costs_none_but_is_priced() -> None:
    result = PriceBook().cost("openai", "gpt-4o", Usage())
    assert (result.usd, result.priced) == (None, True)
    assert result.source.startswith("genai-prices")


def test_negative_token_counts_cost_none() -> None:
    result = PriceBook().cost("openai", "gpt-4o", Usage(input_tokens=-5, output_tokens=10))
    assert (result.usd, result.priced) == (None, True)


def test_time_dependent_prices_match_genai_prices_now() -> None:
    # deepseek-chat has off-peak prices by time of day.
    usage = Usage(input_tokens=5_000, output_tokens=700, cache_read_input_tokens=1_000)
    usd = PriceBook().cost("deepseek", "deepseek-chat", usage).usd
    assert usd == pytest.approx(table_usd(usage, "deepseek-chat", "deepseek"), rel=1e-9)


def test_table_is_consulted_once_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = genai_prices.calc_price

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(str(args[1]))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(genai_prices, "calc_price", counting)
    book = PriceBook()
    for _ in range(3):
        book.cost("openai", "gpt-4o", CACHED)
        book.cost("openai", "not-a-model", CACHED)
    assert calls == ["gpt-4o", "not-a-model"]


def test_a_price_update_is_picked_up() -> None:
    book = PriceBook()
    before = book.cost("openai", "gpt-4o", Usage(input_tokens=1_000_000, output_tokens=0)).usd
    updated = data_snapshot.DataSnapshot(
        providers=[
            gp.Provider(
                id="openai",
                name="OpenAI",
                api_pattern="https://api.openai.com",
                models=[
                    gp.ModelInfo(
                        id="gpt-4o",
                        match=gp.ClauseEquals(equals="gpt-4o"),
                        prices=gp.ModelPrice(input_mtok=Decimal(7), output_mtok=Decimal(9)),
                    )
                ],
            )
        ],
        from_auto_update=True,
    )
    data_snapshot.set_custom_snapshot(updated)
    try:
        after = book.cost("openai", "gpt-4o", Usage(input_tokens=1_000_000, output_tokens=0)).usd
    finally:
        data_snapshot.set_custom_snapshot(None)
    assert (before, after) == (pytest.approx(2.5), pytest.approx(7.0))


def test_auto_update_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    monkeypatch.setattr(genai_prices.UpdatePrices, "start", lambda self, **kw: started.append(self))
    monkeypatch.setattr(genai_prices.UpdatePrices, "stop", lambda self: started.remove(self))
    PriceBook().cost("openai", "gpt-4o", CACHED)
    assert started == []
    book = PriceBook(auto_update=True)
    assert len(started) == 1
    book.close()
    assert started == []


def _table_models() -> list[tuple[str, str, str]]:
    """(routewatch provider, model id, genai-prices provider id) for models that resolve by id."""
    out = []
    for provider in data_snapshot.get_snapshot().providers:
        name = {"openai": "openai", "anthropic": "anthropic", "google": "gcp.gemini"}.get(provider.id)
        for model in provider.models if name else ():
            try:
                genai_prices.calc_price(genai_prices.Usage(), model.id, provider_id=provider.id)
            except LookupError:
                continue
            out.append((name, model.id, provider.id))
    return out


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(_table_models()),
    cache_read=st.integers(0, 400_000),
    cache_write=st.integers(0, 400_000),
    uncached=st.integers(0, 400_000),
    reasoning=st.integers(0, 50_000),
    visible_output=st.integers(0, 50_000),
)
def test_fast_path_agrees_with_calc_price(
    model: tuple[str, str, str], cache_read: int, cache_write: int, uncached: int, reasoning: int, visible_output: int
) -> None:
    name, model_id, provider_id = model
    usage = Usage(
        input_tokens=uncached + cache_read + cache_write,
        output_tokens=visible_output + reasoning,
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_write,
        reasoning_output_tokens=reasoning,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = table_usd(usage, model_id, provider_id)
    assert _BOOK.cost(name, model_id, usage).usd == pytest.approx(expected, rel=1e-9, abs=1e-15)


_BOOK = PriceBook()


def test_concurrent_first_use_gives_one_answer_per_model() -> None:
    book = PriceBook()
    models = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("gcp.gemini", "gemini-2.5-pro")]
    models += [("openai", "missing"), ("ollama", "llama3")]
    expected = {m: PriceBook().cost(*m, CACHED) for m in models}
    results: list[tuple[tuple[str, str], PriceResult]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(200):
                for m in models:
                    results.append((m, book.cost(*m, CACHED)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 8 * 200 * len(models)
    assert all(result == expected[m] for m, result in results)


# --- overrides -------------------------------------------------------------------------------------

MINE = ModelPrice(input_per_mtok=1.0, output_per_mtok=4.0, cache_read_per_mtok=0.5)


def test_override_wins_over_the_table() -> None:
    book = PriceBook(overrides={"openai/gpt-4o": MINE})
    result = book.cost("openai", "gpt-4o", Usage(input_tokens=1_000_000, output_tokens=1_000_000))
    assert result == PriceResult(5.0, True, "override")


def test_model_only_override_applies_to_any_provider() -> None:
    book = PriceBook(overrides={"llama3:8b": MINE})
    assert book.cost("ollama", "llama3:8b", Usage(input_tokens=2_000_000, output_tokens=0)).usd == 2.0


def test_provider_override_beats_model_override() -> None:
    cheap = ModelPrice(input_per_mtok=0.1, output_per_mtok=0.1)
    book = PriceBook(overrides={"gpt-4o": MINE, "azure.ai.openai/gpt-4o": cheap})
    usage = Usage(input_tokens=1_000_000, output_tokens=0)
    assert book.cost("azure.ai.openai", "gpt-4o", usage).usd == pytest.approx(0.1)
    assert book.cost("openai", "gpt-4o", usage).usd == pytest.approx(1.0)


def test_override_matches_a_date_suffixed_model_name() -> None:
    book = PriceBook(overrides={"openai/GPT-4o": MINE})
    assert book.cost("openai", "gpt-4o-2024-08-06", Usage(input_tokens=0, output_tokens=1_000_000)).usd == 4.0


def test_override_cache_read_price_applies_to_cached_input() -> None:
    book = PriceBook(overrides={"m": MINE})
    usage = Usage(input_tokens=1_000_000, output_tokens=0, cache_read_input_tokens=600_000)
    assert book.cost("vllm", "m", usage).usd == pytest.approx(0.4 * 1.0 + 0.6 * 0.5)


def test_override_without_cache_price_bills_cache_at_the_input_rate() -> None:
    book = PriceBook(overrides={"m": ModelPrice(input_per_mtok=2.0, output_per_mtok=0.0)})
    usage = Usage(input_tokens=1_000_000, output_tokens=0, cache_read_input_tokens=600_000)
    assert book.cost("vllm", "m", usage).usd == pytest.approx(2.0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"m": {"input_per_mtok": 1.0, "output_per_mtok": 1.0}},
        {"": MINE},
        {"m": None},
    ],
)
def test_bad_override_argument_raises(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PriceBook(overrides=overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), True, "1.0"])
def test_bad_model_price_raises(bad: object) -> None:
    with pytest.raises(ValueError):
        ModelPrice(input_per_mtok=bad, output_per_mtok=1.0)  # type: ignore[arg-type]


# --- the overrides file ----------------------------------------------------------------------------


def write_prices(tmp_path: Path, content: object) -> str:
    path = tmp_path / "prices.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_from_env_loads_the_prices_file(tmp_path: Path) -> None:
    path = write_prices(tmp_path, {"openai/gpt-4o": {"input_per_mtok": 1, "output_per_mtok": 4}})
    book = PriceBook.from_env(environ={ENV_PRICES_FILE: path})
    assert book.cost("openai", "gpt-4o", Usage(input_tokens=1_000_000, output_tokens=0)).source == "override"


def test_from_env_without_the_variable_has_no_overrides() -> None:
    assert PriceBook.from_env(environ={}).overrides == {}


def test_explicit_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write_prices(tmp_path, {"m": {"input_per_mtok": 9, "output_per_mtok": 9}})
    book = PriceBook.from_env(environ={ENV_PRICES_FILE: path}, overrides={"m": MINE})
    assert book.overrides == {"m": MINE}


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        ["a list"],
        {"m": {"input_per_mtok": 1}},
        {"m": {"input_per_mtok": 1, "output_per_mtok": -2}},
        {"m": {"input_per_mtok": 1, "output_per_mtok": 2, "typo_per_mtok": 3}},
    ],
)
def test_bad_prices_file_is_ignored_with_a_warning(
    tmp_path: Path, content: object, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_prices(tmp_path, content)
    with caplog.at_level(logging.WARNING, logger="routewatch.pricing"):
        book = PriceBook.from_env(environ={ENV_PRICES_FILE: path})
    assert book.overrides == {}
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert ENV_PRICES_FILE in caplog.records[0].getMessage()


def test_missing_prices_file_is_ignored_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="routewatch.pricing"):
        book = PriceBook.from_env(environ={ENV_PRICES_FILE: str(tmp_path / "absent.json")})
    assert book.overrides == {}
    assert "absent.json" in caplog.text


def test_loader_raises_on_a_bad_entry(tmp_path: Path) -> None:
    path = write_prices(tmp_path, {"m": {"output_per_mtok": 1}})
    with pytest.raises(ValueError, match="'m'"):
        load_price_overrides(path)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_fork_during_a_price_lookup_leaves_the_child_able_to_price() -> None:
    """A thread is loading a price (the table load takes a while) when the process forks: the
    child, which inherits the book but not that thread, still prices its calls."""
    book = PriceBook()
    inside = threading.Event()
    resolve = book._resolve

    def slow_resolve(provider: str, model: str | None):
        if model == "slow-model":
            inside.set()
            time.sleep(0.3)
        return resolve(provider, model)

    book._resolve = slow_resolve  # type: ignore[method-assign]
    looker = threading.Thread(target=book.cost, args=("openai", "slow-model", Usage(input_tokens=1)))
    looker.start()
    assert inside.wait(10)
    code = exit_code_in_forked_child(
        lambda: 0 if book.cost("openai", "gpt-4o-mini", Usage(input_tokens=1, output_tokens=1)).priced else 2
    )
    looker.join(10)
    assert code == 0, "the child deadlocked" if code is None else f"the child exited with {code}"


_FORK_RIGHT_AFTER_INSTRUMENT = """
import faulthandler, json, os, sys
import httpx
import routewatch

faulthandler.dump_traceback_later(20, exit=True)  # a deadlock fails, with the stacks, not hangs
routewatch.instrument()  # starts warming the price table (importing genai-prices) on a thread
pid = os.fork()  # a pre-fork server forks its workers right away
if pid:
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
records = []
routewatch.add_listener(records.append)
reply = {"id": "c1", "model": "gpt-4o-mini", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
transport = httpx.MockTransport(lambda request: httpx.Response(200, json=reply))
with httpx.Client(transport=transport) as client:
    client.post("https://api.openai.com/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
routewatch.flush(10)
os._exit(0 if records and records[0].priced else 3)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_worker_forked_right_after_instrument_prices_its_calls() -> None:
    """The whole scenario, in a fresh interpreter (where genai-prices is not imported yet)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", _FORK_RIGHT_AFTER_INSTRUMENT], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
