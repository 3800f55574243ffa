"""Router configuration: files in YAML and TOML, errors that name the field, never the value."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from routewatch.router import ConfigError, Router, RouterConfig, load_config

YAML = """
name: checkout
targets:
  - name: primary
    provider: openai
    model: gpt-4o-mini
    api_key_env: OPENAI_API_KEY
    tags: [tool_use, structured_output]
  - name: backup
    provider: anthropic
    model: claude-3-5-haiku-latest
    priority: 1
    prices: {input_per_mtok: 0.8, output_per_mtok: 4}
tasks:
  default: {strategy: priority}
  structured_output:
    strategy: cost
    objectives: {max_p95_latency_s: 4, max_error_rate: 0.05}
    canary: {target: backup, percent: 5}
classifier:
  long_context_tokens: 16000
  rules:
    - {task: bulk, equals: {service_tier: flex}}
retry_budget: {ratio: 0.1, min_retries: 2}
health: {ramp_s: 30, consecutive_failures: 3}
"""

TOML = """
name = "checkout"
[[targets]]
name = "primary"
provider = "openai"
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
tags = ["tool_use", "structured_output"]

[[targets]]
name = "backup"
provider = "anthropic"
model = "claude-3-5-haiku-latest"
priority = 1
prices = { input_per_mtok = 0.8, output_per_mtok = 4 }

[tasks.default]
strategy = "priority"

[tasks.structured_output]
strategy = "cost"
objectives = { max_p95_latency_s = 4, max_error_rate = 0.05 }
canary = { target = "backup", percent = 5 }

[classifier]
long_context_tokens = 16000
rules = [{ task = "bulk", equals = { service_tier = "flex" } }]

[retry_budget]
ratio = 0.1
min_retries = 2

[health]
ramp_s = 30
consecutive_failures = 3
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_and_toml_describe_the_same_config(tmp_path: Path) -> None:
    from_yaml = load_config(write(tmp_path, "router.yaml", YAML))
    from_toml = load_config(write(tmp_path, "router.toml", TOML))
    assert from_yaml == from_toml
    assert from_yaml.policy("structured_output").canary is not None
    assert from_yaml.target("backup").prices is not None
    assert from_yaml.health == {"ramp_s": 30, "consecutive_failures": 3}


def test_a_config_round_trips_through_yaml(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "router.yaml", YAML))
    again = load_config(write(tmp_path, "again.yml", yaml.safe_dump(config.model_dump(mode="json"))))
    assert again == config


def test_a_config_round_trips_through_json(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "router.yaml", YAML))
    assert load_config(write(tmp_path, "router.json", config.model_dump_json())) == config


def test_unknown_task_falls_back_to_the_default_policy() -> None:
    config = RouterConfig.model_validate(yaml.safe_load(YAML))
    assert config.policy("no-such-task") is config.tasks["default"]
    assert [t.name for t in config.candidates("structured_output")] == ["primary"]  # canary is on the side


def problems(data: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        Router(data, listen=False)
    return info.value.problems


def base() -> dict[str, Any]:
    return yaml.safe_load(YAML)


def test_errors_name_the_field_and_the_target() -> None:
    data = base()
    data["targets"][1]["weight"] = -1
    assert problems(data) == ("targets[1] (backup).weight: Input should be greater than or equal to 0",)


def test_an_infinite_weight_is_refused_by_name() -> None:
    data = base()
    data["targets"][1]["weight"] = float("inf")  # YAML's .inf: selection would compute inf - inf = NaN
    assert problems(data) == ("targets[1] (backup).weight: Input should be a finite number",)


def test_unknown_fields_are_refused_by_path() -> None:
    data = base()
    data["tasks"]["default"]["stratgey"] = "cost"
    assert problems(data) == ("tasks.default.stratgey: unknown field",)


def test_bad_strategy_lists_the_choices() -> None:
    data = base()
    data["tasks"]["default"]["strategy"] = "fastest"
    (problem,) = problems(data)
    assert problem.startswith("tasks.default.strategy: Input should be 'priority', 'weighted', 'cost' or 'latency'")


def test_unknown_target_references_say_which_are_known() -> None:
    data = base()
    data["tasks"]["structured_output"]["canary"]["target"] = "nope"
    (problem,) = problems(data)
    assert "tasks.structured_output.canary.target: unknown target 'nope' (known: primary, backup)" in problem


def test_duplicate_target_names_are_refused() -> None:
    data = base()
    data["targets"][1]["name"] = "primary"
    (problem,) = problems(data)
    assert "duplicate target name 'primary'" in problem


def test_required_fields_are_named() -> None:
    data = base()
    del data["targets"][0]["model"]
    assert problems(data) == ("targets[0] (primary).model: required field missing",)


def test_health_policy_fields_are_checked() -> None:
    data = base()
    data["health"] = {"ramp_s": -5}
    (problem,) = problems(data)
    assert "ramp_s" in problem


def test_health_policy_errors_are_named_by_their_path_in_the_config() -> None:
    data = base()
    data["health"] = {"min_weight": 2}
    assert problems(data) == ("health.min_weight: Input should be less than 1",)
    data["health"] = {"base_ejection_s": 100, "max_ejection_s": 50}
    assert problems(data) == ("health: max_ejection_s must be >= base_ejection_s",)


def test_inline_keys_are_refused_and_never_echoed() -> None:
    data = base()
    data["targets"][0]["api_key"] = "sk-secret-value-123456"
    (problem,) = problems(data)
    assert "api_key_env" in problem
    assert "sk-secret" not in problem


def test_values_never_appear_in_errors() -> None:
    data = base()
    data["targets"][0]["api_key_env"] = "sk-secret-value-123456"  # a key pasted where its variable's name goes
    (problem,) = problems(data)
    assert problem.startswith("targets[0] (primary).api_key_env:")
    assert "sk-secret" not in problem


def test_yaml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "targets:\n  - name: a\n    provider: [openai\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid YAML at line \d+ column \d+"):
        load_config(path)


def test_toml_syntax_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "bad.toml", "[[targets]\nname = 'a'\n"))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_file_errors_carry_the_path_and_count(tmp_path: Path) -> None:
    data = base()
    data["targets"][0]["weight"] = "heavy"
    data["retry_budget"]["ratio"] = 2
    path = write(tmp_path, "router.yaml", yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: 2 problem(s):")
    assert "targets[0] (primary).weight" in message and "retry_budget.ratio" in message


def test_watch_applies_a_changed_file_and_ignores_a_bad_one(tmp_path: Path, caplog: Any) -> None:
    path = write(tmp_path, "router.yaml", YAML)
    router = Router(path, listen=False)
    watcher = router.watch(path, interval_s=60)  # polled by hand below; the thread would do the same
    data = base()
    data["targets"][0]["weight"] = 3
    path.write_text(yaml.safe_dump(data))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    assert watcher.check() is True
    assert router.config.target("primary").weight == 3
    path.write_text("targets: []\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000_000))
    with caplog.at_level(logging.WARNING, logger="routewatch.router"):
        assert watcher.check() is False
    assert router.config.target("primary").weight == 3  # the bad file changed nothing
    assert watcher.errors == 1 and "targets" in (watcher.last_error or "")
    assert "ignoring the new config" in caplog.text
    router.close()


def test_the_watch_thread_picks_up_changes(tmp_path: Path) -> None:
    path = write(tmp_path, "router.yaml", YAML)
    router = Router(path, listen=False)
    router.watch(path, interval_s=0.05)
    data = base()
    data["name"] = "renamed"
    path.write_text(yaml.safe_dump(data))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    deadline = time.monotonic() + 5
    while router.name != "renamed" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert router.name == "renamed"
    router.close()


def test_bad_items_are_not_also_reported_as_a_short_list() -> None:
    data = base()
    data["targets"] = [data["targets"][0] | {"weight": -1}]
    assert problems(data) == ("targets[0] (primary).weight: Input should be greater than or equal to 0",)
