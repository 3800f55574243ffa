"""The demo's scenarios: a regression changes what it names on one provider and nothing else."""

from __future__ import annotations

import pytest

from routewatch.demo.scenarios import SCENARIOS, TARGETS, build_scenario


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_regressed_provider_keeps_its_baseline_traits(name: str) -> None:
    regressed = TARGETS[1]
    regression = SCENARIOS[name]
    scenario = build_scenario(regressed, regression, inject_at_s=10.0, recover_at_s=20.0, seed=3)
    worse = scenario.phases[0].providers[regressed.route]
    base = regressed.settings
    assert worse.jitter_sigma == base.jitter_sigma
    assert worse.output_tokens == base.output_tokens
    assert worse.tool_calls == base.tool_calls
    assert worse.latency_s == pytest.approx(base.latency_s * regression.latency_factor)
    assert worse.ttft_s == pytest.approx(base.ttft_s * regression.latency_factor)
    assert dict(regression.faults).items() <= worse.faults.items()


def test_only_the_regressed_provider_changes_and_recovery_restores_the_baseline() -> None:
    regressed = TARGETS[0]
    scenario = build_scenario(regressed, SCENARIOS["latency"], inject_at_s=5.0, recover_at_s=9.0, seed=1)
    inject, recover = scenario.phases
    assert set(inject.providers) == {regressed.route}
    assert recover.providers == {}
    assert scenario.providers == {t.route: t.settings for t in TARGETS}
