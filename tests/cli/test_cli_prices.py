"""`routewatch prices`: the rates a call is billed at, where they come from, and "unpriced" when unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routewatch.pricing import ENV_PRICES_FILE


@pytest.fixture(autouse=True)
def _no_override_file(monkeypatch) -> None:
    monkeypatch.delenv(ENV_PRICES_FILE, raising=False)


def test_a_table_model_shows_its_source_and_per_million_rates(run) -> None:
    result = run("prices", "gpt-4o-mini")
    assert result.code == 0
    assert "gpt-4o-mini (openai)" in result.out
    assert "genai-prices" in result.out
    assert "input:        $0.1500 / 1M tokens" in result.out
    assert "output:       $0.6000 / 1M tokens" in result.out


def test_json_output_and_explicit_provider(run) -> None:
    result = run("prices", "claude-haiku-4-5", "--provider", "anthropic", "--json")
    data = json.loads(result.out)
    assert data["provider"] == "anthropic"
    assert data["source"].startswith("genai-prices")
    assert data["per_1m_usd"]["output"] > data["per_1m_usd"]["input"] > 0


def test_an_unknown_model_is_unpriced_not_free(run) -> None:
    result = run("prices", "no-such-model-xyz")
    assert result.code == 1
    assert "unpriced" in result.err
    assert ENV_PRICES_FILE in result.err
    assert result.out == ""


def test_an_unknown_provider_is_a_clear_error(run) -> None:
    result = run("prices", "gpt-4o", "--provider", "acme")
    assert result.code == 1
    assert "no price table for provider 'acme'" in result.err


def test_the_override_file_wins_and_is_named(run, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"my-finetune": {"input_per_mtok": 0.3, "output_per_mtok": 1.2}}))
    monkeypatch.setenv(ENV_PRICES_FILE, str(path))
    result = run("prices", "my-finetune", "--provider", "vllm")
    assert result.code == 0
    assert "override" in result.out and str(path) in result.out
    assert "$0.3000 / 1M tokens" in result.out and "$1.2000 / 1M tokens" in result.out


def test_a_broken_override_file_is_reported(run, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"m": {"input_per_mtok": "cheap"}}')
    monkeypatch.setenv(ENV_PRICES_FILE, str(path))
    result = run("prices", "m")
    assert result.code == 1
    assert ENV_PRICES_FILE in result.err and "unusable" in result.err
