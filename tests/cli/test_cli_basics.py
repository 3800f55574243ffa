"""Every command explains itself with examples, and bad input is one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def _commands() -> list[str]:
    """Every subcommand the parser knows, so a new command cannot skip the checks below."""
    from routewatch.cli import _parser

    (subparsers,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(subparsers.choices)


COMMANDS = _commands()


def test_the_command_list_is_the_parsers() -> None:
    assert {"demo", "replay", "prices", "check", "simulator", "collector"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(run, command: str) -> None:
    result = run(command, "--help")
    assert result.code == 0
    _, _, examples = result.out.partition("examples:")
    assert f"routewatch {command} " in examples, result.out
    assert result.out.startswith(f"usage: routewatch {command}")


def test_top_level_help_lists_every_command(run) -> None:
    result = run("--help")
    assert result.code == 0
    for command in COMMANDS:
        assert re.search(rf"^    {command}\b", result.out, re.MULTILINE), command  # its row, with its help


def test_no_command_prints_help_and_fails(run) -> None:
    result = run()
    assert result.code == 2
    assert "COMMAND" in result.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bogus"], "invalid choice: 'bogus'"),
        (["prices"], "the following arguments are required: MODEL"),
        (["demo", "--duration", "abc"], "invalid float value: 'abc'"),
        (["demo", "--duration", "3"], "--duration must be between 10 and 600 seconds"),
        (["demo", "--scenario", "nope"], "unknown --scenario 'nope'"),
        (["demo", "--provider", "acme"], "unknown --provider 'acme'"),
        (["check", "--kind", "router"], "the following arguments are required: CONFIG"),
    ],
)
def test_bad_arguments_are_one_line_errors(run, argv: list[str], message: str) -> None:
    result = run(*argv)
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1
    assert "Traceback" not in result.err


def test_version(run) -> None:
    from routewatch import __version__

    assert run("--version").out.strip() == f"routewatch {__version__}"


def test_a_bug_shows_its_traceback_and_asks_for_a_report(run, monkeypatch) -> None:
    import routewatch.cli as cli

    def broken(args: object) -> int:
        raise ZeroDivisionError("a real bug")

    monkeypatch.setattr(cli, "_prices", broken)
    result = run("prices", "gpt-4o-mini")
    assert result.code == 70
    assert "ZeroDivisionError: a real bug" in result.err
    assert "this is a bug in routewatch" in result.err


def test_installed_entry_point_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("routewatch")
    if not exe.exists():
        pytest.skip("the routewatch script is not installed beside python")
    done = subprocess.run([str(exe), "prices", "no-such-model-xyz"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ROUTEWATCH_PRICES_FILE": ""})  # fmt: skip
    assert done.returncode == 1
    assert "unpriced" in done.stderr
    assert "Traceback" not in done.stderr
