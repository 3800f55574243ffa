"""The Prometheus rules in dashboards/alerts are valid, proven by promtool unit tests that make every
alert fire and stay silent, and only read series routewatch really emits."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "dashboards" / "alerts"
RULES = ALERTS / "routewatch-rules.yml"
UNIT_TESTS = sorted((ALERTS / "tests").glob("*.yml"))

needs_promtool = pytest.mark.requires_tool("promtool")


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert promql.PROMTOOL is not None
    return subprocess.run([promql.PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    assert UNIT_TESTS
    done = promtool("test", "rules", *map(str, UNIT_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_the_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """Raise the drift alert's threshold so it can never fire: the unit tests must notice."""
    shutil.copytree(ALERTS, tmp_path / "alerts")
    broken = tmp_path / "alerts" / RULES.name
    text = broken.read_text()
    assert "(routewatch_drift_alarm_active) > 0" in text
    broken.write_text(text.replace("(routewatch_drift_alarm_active) > 0", "(routewatch_drift_alarm_active) > 1"))
    done = promtool("test", "rules", *(str(tmp_path / "alerts" / "tests" / p.name) for p in UNIT_TESTS))
    assert done.returncode != 0
    assert "RoutewatchDriftAlarm" in done.stdout + done.stderr


def test_every_alert_is_tested_firing_and_silent() -> None:
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts >= {"RoutewatchDriftAlarm", "RoutewatchErrorBudgetBurnFast", "RoutewatchErrorBudgetBurnSlow",
                      "RoutewatchRouterTargetEjected", "RoutewatchFleetTargetEjected",
                      "RoutewatchCollectorDroppingSpans", "RoutewatchCollectorRejectingRequests"}  # fmt: skip
    fires: set[str] = set()
    silent: set[str] = set()
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    assert alerts - fires == set(), f"never shown firing: {alerts - fires}"
    assert alerts - silent == set(), f"never shown staying silent: {alerts - silent}"


def test_burn_rate_alerts_use_two_windows_each() -> None:
    by_name = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    fast, slow = by_name["RoutewatchErrorBudgetBurnFast"]["expr"], by_name["RoutewatchErrorBudgetBurnSlow"]["expr"]
    assert "ratio_rate1h > (14.4 * 0.01)" in fast and "ratio_rate5m > (14.4 * 0.01)" in fast and "\nand\n" in fast
    assert "ratio_rate6h > (6 * 0.01)" in slow and "ratio_rate30m > (6 * 0.01)" in slow and "\nand\n" in slow
    recorded = {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}
    for window in ("5m", "30m", "1h", "6h"):
        expr = recorded[f"routewatch:gen_ai_call_errors:ratio_rate{window}"]
        assert f'gen_ai_client_operation_duration_seconds_count{{error_type!=""}}[{window}]' in expr
        assert f"gen_ai_client_operation_duration_seconds_count[{window}]" in expr


def test_every_series_the_rules_read_is_emitted_by_the_code(emitted: dict[str, set[str] | None]) -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    problems = [f"{rule.get('alert') or rule.get('record')}: {problem}" for rule in rules()
                for problem in promql.unknown_references(rule["expr"], emitted, recorded)]  # fmt: skip
    assert not problems, "\n".join(problems)


def test_alert_templates_only_use_labels_the_alert_keeps() -> None:
    """An annotation naming a label the expression aggregated away renders as an empty string."""
    for rule in rules():
        if "alert" not in rule:
            continue
        kept = promql.grouping_labels(rule["expr"]) or None
        used = set(re.findall(r"\$labels\.(\w+)", yaml.safe_dump(rule.get("annotations", {}))))
        if kept is not None:
            assert used <= kept, f"{rule['alert']}: {used - kept} not kept by the expression"
