"""`python -m routewatch.simulator`: serve the provider simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from .scenario import ProviderSettings, Scenario
from .server import Simulator

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m routewatch.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
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


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """The scenario file (or the default scenario) with the command line's settings laid over it."""
    text = args.scenario_json or args.scenario
    if text is None:
        scenario = Scenario()
    elif text.lstrip().startswith("{"):
        scenario = Scenario.model_validate_json(text)
    else:
        scenario = Scenario.load(text)
    names = ("ttft_s", "per_token_s", "latency_s", "jitter_sigma", "output_tokens")
    overrides: dict[str, Any] = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if args.fault:
        faults = dict(scenario.default.faults)
        for item in args.fault:
            kind, _, probability = item.partition("=")
            faults[kind] = float(probability)
        overrides["faults"] = faults
    default = ProviderSettings.model_validate({**scenario.default.model_dump(), **overrides})
    update: dict[str, Any] = {"default": default}
    if args.seed is not None:
        update["seed"] = args.seed
    return Scenario.model_validate({**dict(scenario), **update})


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        scenario = scenario_from_args(args)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set()) if in_main_thread else None
    sim = Simulator(args.host, args.port, scenario).start()
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
