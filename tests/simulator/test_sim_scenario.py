"""Scenarios: layered settings, phases by request count and time, seeded and deterministic faults."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import pydantic
import pytest

from routewatch.simulator import Phase, ProviderSettings, Scenario
from routewatch.simulator.content import instance, plan_output, violate
from routewatch.simulator.scenario import ScenarioRuntime

CHAT = "/v1/chat/completions"


def test_overlays_change_only_the_fields_they_set() -> None:
    scenario = Scenario(
        default=ProviderSettings(ttft_s=0.2, output_tokens=10, faults={"http_500": 0.1}),
        providers={
            "anthropic": ProviderSettings(output_tokens=50, faults={"http_529": 0.2}),
            "/openai/v1": ProviderSettings(latency_s=0.3),
        },
    )
    anthropic = scenario.settings_for(-1, "anthropic", "/v1/messages")
    assert (anthropic.ttft_s, anthropic.output_tokens) == (0.2, 50)
    assert anthropic.faults == {"http_500": 0.1, "http_529": 0.2}
    prefixed = scenario.settings_for(-1, "openai", "/openai/v1/chat/completions")
    assert (prefixed.latency_s, prefixed.output_tokens) == (0.3, 10)
    assert scenario.settings_for(-1, "openai", CHAT).latency_s == 0


def test_phases_switch_by_request_count_and_do_not_accumulate() -> None:
    scenario = Scenario(
        default=ProviderSettings(latency_s=0.01),
        phases=[
            Phase(start_after_requests=3, default=ProviderSettings(latency_s=0.02, model_override="m2")),
            Phase(start_after_requests=5, providers={"gemini": ProviderSettings(output_tokens=3)}),
        ],
    )
    run = ScenarioRuntime(scenario)
    draws = [run.draw("openai", CHAT) for _ in range(6)]
    assert [d.phase for d in draws] == [-1, -1, -1, 0, 0, 1]
    assert [d.settings.latency_s for d in draws] == [0.01, 0.01, 0.01, 0.02, 0.02, 0.01]
    assert draws[5].settings.model_override is None


def test_phases_switch_by_elapsed_time() -> None:
    scenario = Scenario(phases=[Phase(start_after_s=0.05, default=ProviderSettings(output_tokens=1))])
    run = ScenarioRuntime(scenario)
    assert run.draw("openai", CHAT).settings.output_tokens == 24
    time.sleep(0.06)
    assert run.draw("openai", CHAT).settings.output_tokens == 1


def test_fault_draws_are_seeded_and_follow_the_probabilities() -> None:
    scenario = Scenario(seed=7, default=ProviderSettings(faults={"http_429": 0.2, "truncate": 0.1}))

    def faults(s: Scenario) -> list[str | None]:
        run = ScenarioRuntime(s)
        return [run.draw("openai", CHAT).fault for _ in range(2000)]

    first = faults(scenario)
    assert first == faults(scenario)
    assert first != faults(scenario.model_copy(update={"seed": 8}))
    counts = Counter(first)
    assert 330 < counts["http_429"] < 470 and 150 < counts["truncate"] < 250


def test_fault_every_n_is_deterministic() -> None:
    run = ScenarioRuntime(Scenario(default=ProviderSettings(fault_every_n={"refusal": 3})))
    assert [run.draw("openai", CHAT).fault for _ in range(6)] == [None, None, "refusal", None, None, "refusal"]


@pytest.mark.parametrize(
    "bad",
    [
        {"default": {"faults": {"nonsense": 0.1}}},
        {"default": {"faults": {"http_429": 0.7, "http_500": 0.6}}},
        {"default": {"ttft_s": -1}},
        {"providers": {"mistral": {}}},
        {"phases": [{"default": {}}]},
        {
            "default": {"faults": {"http_429": 0.7}},
            "phases": [{"start_after_requests": 1, "default": {"faults": {"http_500": 0.5}}}],
        },
    ],
)
def test_bad_scenarios_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        Scenario.model_validate(bad)


def test_scenario_loads_from_json(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    data = {
        "seed": 3,
        "default": {"per_token_s": 0.01},
        "phases": [{"start_after_requests": 200, "default": {"faults": {"schema_violation": 0.1}}}],
    }
    path.write_text(json.dumps(data))
    scenario = Scenario.load(path)
    assert scenario.phases[0].default.faults == {"schema_violation": 0.1}
    assert scenario.settings_for(0, "openai", CHAT).per_token_s == 0.01


def test_schema_instances_satisfy_the_schema_and_violations_do_not() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 3},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}, "minItems": 1},
            "score": {"anyOf": [{"type": "number", "minimum": 1, "maximum": 2}, {"type": "null"}]},
        },
        "required": ["name", "tags"],
        "$defs": {"Tag": {"enum": ["a", "b"]}},
    }
    value = instance(schema, random.Random(1))
    assert len(value["name"]) >= 3 and set(value["tags"]) <= {"a", "b"} and 1 <= value["score"] <= 2
    assert "name" not in violate(schema, value)


def test_output_pieces_match_the_token_count() -> None:
    text = plan_output(seed=1, output_tokens=24)
    assert text.tokens == 24 and text.text == "".join(text.pieces)
    broken = plan_output(seed=1, output_tokens=24, json_mode=True, fault="invalid_json_output")
    with pytest.raises(ValueError):
        json.loads(broken.text)


def test_the_example_drift_scenario_degrades_between_requests_200_and_400() -> None:
    path = Path(__file__).resolve().parents[2] / "src/routewatch/simulator/fixtures/drift.json"
    run = ScenarioRuntime(Scenario.load(path))
    draws = [run.draw("openai", CHAT) for _ in range(401)]
    assert {d.settings.latency_s for d in draws[:200]} == {0.6}
    assert {d.settings.latency_s for d in draws[200:400]} == {1.2}
    assert draws[400].settings.latency_s == 0.6
    violations = sum(d.fault == "schema_violation" for d in draws[200:400])
    assert 5 <= violations <= 40
