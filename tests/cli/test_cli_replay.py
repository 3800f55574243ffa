"""`routewatch replay`: the drift engine over exported spans, as a table, JSON lines or a plot."""

from __future__ import annotations

import json
from pathlib import Path


def test_a_latency_regression_in_the_file_is_reported(run, trace_file) -> None:
    path = trace_file(n=600, slow_from=300)
    result = run("replay", str(path), "--warm-up", "100")
    assert result.code == 0, result.err
    assert result.out.startswith(f"600 GenAI calls from {path}, 1 streams; ")
    assert "openai/gpt-4o-mini" in result.out and "latency" in result.out and "rose from" in result.out


def test_steady_history_raises_nothing(run, trace_file) -> None:
    result = run("replay", str(trace_file(n=400, slow_from=None)), "--warm-up", "100", "--signal", "latency")
    assert result.code == 0
    assert "0 alarm(s)" in result.out


def test_json_lines_carry_the_alarm_and_its_evidence(run, trace_file) -> None:
    result = run("replay", str(trace_file()), "--warm-up", "100", "--signal", "latency", "--json")
    alarms = [json.loads(line) for line in result.out.splitlines()]
    first = alarms[0]
    assert first["kind"] == "alarm" and first["signal"] == "latency" and first["direction"] == "up"
    assert first["stream_key"]["provider"] == "openai"
    assert 280 <= first["change_index"] <= 340  # the change was at call 300
    assert first["after"]["mean"] > 1.5 * first["before"]["mean"]


def test_plot_writes_a_png(run, trace_file, tmp_path: Path) -> None:
    png = tmp_path / "alarms.png"
    result = run("replay", str(trace_file()), "--warm-up", "100", "--signal", "latency", "--plot", str(png))
    assert result.code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "1 alarmed signal" in result.err


def test_a_monitor_config_file_is_used(run, trace_file, tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text("signals: [error]\ndetector_overrides: {error: {warm_up: 50}}\n")
    result = run("replay", str(trace_file()), "--config", str(config))
    assert result.code == 0
    assert "0 alarm(s)" in result.out  # latency is not watched, and nothing failed


def test_bad_inputs(run, trace_file, tmp_path: Path) -> None:
    missing = run("replay", str(tmp_path / "nope.jsonl"))
    assert missing.code == 1 and "no such file" in missing.err
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"resourceSpans": []}\nnot json\n')
    bad = run("replay", str(garbage))
    assert bad.code == 1 and "not OTLP JSON traces" in bad.err and "garbage.jsonl:2" in bad.err
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"resourceSpans": []}\n')
    nothing = run("replay", str(empty))
    assert nothing.code == 1 and "no GenAI spans" in nothing.err
    signal = run("replay", str(trace_file(n=10)), "--signal", "vibes")
    assert signal.code == 2 and "unknown --signal vibes" in signal.err
    warm = run("replay", str(trace_file(n=10, name="w.jsonl")), "--warm-up", "3")
    assert warm.code == 1 and "bad detector settings" in warm.err
    for result in (missing, bad, nothing, signal, warm):
        assert "Traceback" not in result.err
