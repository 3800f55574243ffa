"""`routewatch simulator` (or `python -m routewatch.simulator`): serve the provider simulator until Ctrl-C.

Bad input (a usage error, an unreadable or invalid scenario, a bad flag value, an address that cannot
be bound) is one line on stderr naming the flag, and a non-zero exit: 2 for the command line, 1 when
the address cannot be listened on.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from .scenario import ProviderSettings, Scenario
from .server import Simulator

__all__ = ["main", "scenario_from_args"]

_EXAMPLES = """examples:
  {prog} --port 8000                         OpenAI, Anthropic, Gemini, Cohere and Ollama APIs on one port
  {prog} --port 0                            any free port (the first line says which)
  {prog} --latency 0.2 --ttft 0.1 --jitter 0.3
  {prog} --fault http_429=0.05 --fault schema_violation=0.1
  {prog} --scenario scenario.json --seed 3   phases and per-provider settings from a file

Every API answers under its usual path, e.g. http://127.0.0.1:8000/v1/chat/completions (OpenAI),
/v1/messages (Anthropic), /v1beta/models/MODEL:generateContent (Gemini). Fault kinds: http_<4xx|5xx>,
error_after_200, truncate, malformed_body, invalid_json_output, schema_violation, refusal,
empty_output, stall. A scenario file is a routewatch.simulator.Scenario as JSON (an example ships as
routewatch/simulator/fixtures/drift.json). The examples in the repository use this simulator when
ROUTEWATCH_SIMULATOR_URL=http://127.0.0.1:8000 names it.
"""

#: ProviderSettings field -> the flag that sets it, so a validation error names what the user typed
_FLAGS = {
    "ttft_s": "--ttft",
    "per_token_s": "--per-token",
    "latency_s": "--latency",
    "jitter_sigma": "--jitter",
    "output_tokens": "--output-tokens",
    "faults": "--fault",
}


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse declares NoReturn; raising keeps that promise
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: give a number from 0 to 65535") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: give a number from 0 to 65535")
    return port


def _parser(prog: str = "python -m routewatch.simulator") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Serve simulated LLM provider APIs on loopback until Ctrl-C, for tests, demos and benchmarks.",
        epilog=_EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8000, help="port to bind (default 8000; 0 picks a free one)")
    parser.add_argument("--scenario", help="a scenario JSON file, or the JSON itself")
    parser.add_argument("--scenario-json", help="the scenario as a JSON string")
    parser.add_argument("--seed", type=int, help="overrides the scenario's seed")
    parser.add_argument("--ttft", type=float, dest="ttft_s", help="seconds before the first streamed token")
    parser.add_argument("--per-token", type=float, dest="per_token_s", help="seconds between streamed tokens")
    parser.add_argument("--latency", type=float, dest="latency_s", help="seconds before a JSON reply")
    parser.add_argument("--jitter", type=float, dest="jitter_sigma", help="lognormal sigma of every delay")
    parser.add_argument("--output-tokens", type=int, dest="output_tokens", help="tokens per reply")
    parser.add_argument(
        "--fault", action="append", default=[], metavar="KIND=P", help="fault probability, e.g. http_429=0.05"
    )
    return parser


def _one_line(exc: ValidationError, flags: dict[str, str] | None = None, source: str = "") -> str:
    """A pydantic error as one line; with `flags`, each field is named by the flag that set it."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(p) for p in error.get("loc", ())]
        where = flags.get(loc[0], loc[0]) if flags and loc else ".".join(loc)
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{source}{where}: {message}" if where else f"{source}{message}")
    return "; ".join(parts)


def _load_scenario(args: argparse.Namespace) -> Scenario:
    text = args.scenario_json or args.scenario
    flag = "--scenario-json" if args.scenario_json else "--scenario"
    if text is None:
        return Scenario()
    inline = text.lstrip().startswith("{")
    where = f"{flag}: " if inline else f"{flag} {text}: "
    try:
        return Scenario.model_validate_json(text) if inline else Scenario.load(text)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot read {text}: {exc.strerror or exc}") from exc
    except ValidationError as exc:
        if exc.error_count() == 1 and exc.errors()[0].get("type") == "json_invalid":
            raise UsageError(f"{where}not valid JSON: {exc.errors()[0].get('msg')}") from exc
        raise UsageError(_one_line(exc, source=where)) from exc
    except ValueError as exc:  # json.loads on a file's text
        raise UsageError(f"{where}not valid JSON: {exc}") from exc


def _faults(items: list[str]) -> dict[str, float]:
    faults: dict[str, float] = {}
    for item in items:
        kind, sep, probability = item.partition("=")
        if not sep or not kind.strip():
            raise UsageError(f"--fault {item!r}: expected KIND=P, e.g. http_429=0.05")
        try:
            faults[kind.strip()] = float(probability)
        except ValueError:
            raise UsageError(f"--fault {item!r}: P must be a probability between 0 and 1") from None
    return faults


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """The scenario file (or the default scenario) with the command line's settings laid over it.

    Raises `UsageError` with one line naming the flag or file at fault.
    """
    scenario = _load_scenario(args)
    names = ("ttft_s", "per_token_s", "latency_s", "jitter_sigma", "output_tokens")
    overrides: dict[str, Any] = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if args.fault:
        overrides["faults"] = {**scenario.default.faults, **_faults(args.fault)}
    try:
        default = ProviderSettings.model_validate({**scenario.default.model_dump(), **overrides})
    except ValidationError as exc:
        raise UsageError(_one_line(exc, _FLAGS)) from exc
    update: dict[str, Any] = {"default": default}
    if args.seed is not None:
        update["seed"] = args.seed
    try:
        return Scenario.model_validate({**dict(scenario), **update})
    except ValidationError as exc:  # a flag that clashes with an overlay of the scenario file
        raise UsageError(_one_line(exc)) from exc


def main(argv: Sequence[str] | None = None, prog: str = "python -m routewatch.simulator") -> int:
    try:
        args = _parser(prog).parse_args(argv)
        scenario = scenario_from_args(args)
    except UsageError as exc:
        print(f"error: {prog}: {exc}", file=sys.stderr)
        return 2
    try:
        sim = Simulator(args.host, args.port, scenario).start()
    except (OSError, OverflowError) as exc:  # address in use, unknown host, not an address of this machine
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"error: {prog}: cannot listen on {args.host}:{args.port}: {reason}", file=sys.stderr)
        return 1
    done = threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set()) if in_main_thread else None
    print(f"routewatch simulator listening on {sim.url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
