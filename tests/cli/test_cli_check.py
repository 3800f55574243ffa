"""`routewatch check`: tells router, monitor and collector configs apart and names every bad field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROUTER = """
targets:
  - {name: primary, provider: openai, model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}
  - {name: backup, provider: anthropic, model: claude-haiku-4-5, priority: 1}
tasks:
  default: {strategy: priority}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_valid_router_config(run, tmp_path: Path) -> None:
    result = run("check", str(write(tmp_path, "router.yaml", ROUTER)))
    assert result.code == 0
    assert "valid router config (2 targets: primary, backup)" in result.out


def test_router_errors_name_the_target_and_field_but_never_the_value(run, tmp_path: Path) -> None:
    text = ROUTER.replace("priority: 1}", "priority: 1, weight: -7}").replace("strategy: priority", "strategy: zz")
    result = run("check", str(write(tmp_path, "router.yaml", text)))
    assert result.code == 1
    assert "targets[1] (backup).weight: Input should be greater than or equal to 0" in result.err
    assert "tasks.default.strategy" in result.err
    messages = result.err.replace(str(tmp_path), "")  # the temp path may hold "-7" (pytest-7)
    assert "-7" not in messages and "zz" not in messages
    assert "invalid router config (2 error(s))" in result.err


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("monitor.yaml", "false_alarms_per_100k: 5\nsignals: [latency, error]\n"),
        ("monitor.toml", "false_alarms_per_100k = 5\nmax_streams = 100\n"),
        ("monitor.json", json.dumps({"dimensions": ["tenant"], "peer_fraction": 0.5})),
    ],
)
def test_monitor_configs_in_yaml_toml_and_json(run, tmp_path: Path, name: str, text: str) -> None:
    result = run("check", str(write(tmp_path, name, text)))
    assert result.code == 0, result.err
    assert "valid monitor config" in result.out


def test_monitor_errors_point_at_each_field(run, tmp_path: Path) -> None:
    result = run("check", str(write(tmp_path, "m.toml", 'false_alarms_per_100k = -1\nmax_streams = "many"\n')))
    assert result.code == 1
    assert "m.toml: false_alarms_per_100k: Input should be greater than 0" in result.err
    assert "m.toml: max_streams: Input should be a valid integer" in result.err
    assert "many" not in result.err


def test_collector_config_and_a_secret_is_not_echoed(run, tmp_path: Path) -> None:
    assert run("check", str(write(tmp_path, "c.yaml", "grpc_port: 14317\nqueue_capacity: 10\n"))).code == 0
    result = run(
        "check", str(write(tmp_path, "c2.yaml", "http_port: 0\nauth_token: sk-secret-123\nqueue_capacity: 0\n"))
    )
    assert result.code == 1
    assert "queue_capacity" in result.err and "sk-secret-123" not in result.err


def test_json_prints_the_config_with_defaults(run, tmp_path: Path) -> None:
    result = run("check", str(write(tmp_path, "m.yaml", "max_streams: 7\n")), "--json")
    data = json.loads(result.out)
    assert data["max_streams"] == 7 and data["false_alarms_per_100k"] == 1.0


def test_kind_can_be_forced(run, tmp_path: Path) -> None:
    result = run("check", str(write(tmp_path, "x.yaml", "max_streams: 7\n")), "--kind", "collector")
    assert result.code == 1
    assert "max_streams: unknown field" in result.err


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("x.yaml", "foo: 1\n", "cannot tell which config this is"),
        ("x.json", "[1, 2]", "expected a mapping of settings at the top level, got list"),
        ("x.yaml", "a: [\n", "not valid YAML"),
        ("x.toml", "a = \n", "not valid TOML"),
        ("x.json", "{", "not valid JSON"),
    ],
)
def test_unusable_files_are_one_line_errors(run, tmp_path: Path, name: str, text: str, message: str) -> None:
    result = run("check", str(write(tmp_path, name, text)))
    assert result.code == 1
    assert message in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err


def test_a_missing_file(run, tmp_path: Path) -> None:
    result = run("check", str(tmp_path / "nope.yaml"))
    assert result.code == 1
    assert "cannot read" in result.err and "No such file" in result.err


def test_detector_overrides_are_built_so_a_bad_parameter_is_found_now(run, tmp_path: Path) -> None:
    text = """
detector_overrides:
  latency: {warmup: 300}
  error: {warm_up: 0}
  ttft: {shifts: [-1, "sk-secret-1"]}
  vibes: {warm_up: 10}
  schema_invalid: {warm_up: 500, min_events: 5}
"""
    result = run("check", str(write(tmp_path, "monitor.yaml", text)))
    assert result.code == 1
    lines = [line.replace(str(tmp_path) + "/", "") for line in result.err.splitlines()]
    assert lines[0].startswith("monitor.yaml: detector_overrides.latency: unknown parameter warmup (known: ")
    assert "warm_up" in lines[0] and "hurting" not in lines[0]  # fixed per signal, not a knob
    assert lines[1].startswith("monitor.yaml: detector_overrides.error: need warm_up >= 1")
    assert lines[2] == "monitor.yaml: detector_overrides.ttft: shifts must be one or two values > 0"
    assert lines[3].startswith("monitor.yaml: detector_overrides.vibes: unknown signal (known: cost, ")
    assert lines[4] == "monitor.yaml: invalid monitor config (4 error(s))"
    assert "sk-secret-1" not in result.err


def test_a_collectors_monitor_section_is_checked_too(run, tmp_path: Path) -> None:
    good = run(
        "check",
        str(write(tmp_path, "c.yaml", "grpc_port: 1\nmonitor: {detector_overrides: {latency: {warm_up: 300}}}\n")),
    )
    assert good.code == 0, good.err
    bad = run(
        "check",
        str(write(tmp_path, "d.yaml", "grpc_port: 1\nmonitor: {detector_overrides: {latency: {warm_up: 3}}}\n")),
    )
    assert bad.code == 1 and "d.yaml: monitor.detector_overrides.latency: need warm_up >= 20" in bad.err
