"""The `routewatch` command line: `routewatch demo` and `routewatch simulator`.

Every command exits non-zero with a one-line message on bad input, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]

_EXAMPLES = """examples:
  routewatch demo                      instrumented calls against the embedded simulator, spans printed
  routewatch demo --calls 3            three rounds of calls per provider
  routewatch simulator --port 8000     serve the provider simulator until Ctrl-C
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="routewatch",
        description="OpenTelemetry-native observability and drift detection for LLM provider calls.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run instrumented SDK calls against the embedded simulator and print their spans",
        epilog="example:\n  routewatch demo --calls 2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--calls", type=int, default=1, help="rounds of calls per provider (default 1)")
    commands.add_parser(
        "simulator",
        help="serve the provider simulator (see `routewatch simulator --help`)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["simulator"]:
        from .simulator.__main__ import main as simulator_main

        return simulator_main(args_list[1:])
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command == "demo":
        if not 1 <= args.calls <= 100:
            parser.error("--calls must be between 1 and 100")
        from .demo import run_demo

        return run_demo(calls=args.calls)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
