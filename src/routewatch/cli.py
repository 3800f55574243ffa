"""The `routewatch` command line: demo, replay, prices, check, simulator and collector.

Every command has `--help` with examples. A user error (bad argument, missing file, invalid config)
exits non-zero with one line on stderr, never a traceback; a bug in routewatch itself still shows
its traceback, with a line asking for a report.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["UserError", "detector_problems", "format_validation_error", "load_mapping", "main"]

ISSUES_HINT = "this is a bug in routewatch; please report it with the traceback above"


class UserError(Exception):
    """A problem with what the user asked for: printed as one line, exit status `code`."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are `UserError`s (one line, exit 2) like every other bad input."""

    def error(self, message: str) -> Any:  # argparse declares NoReturn; raising keeps that promise
        raise UserError(f"{self.prog}: {message} (see `{self.prog} --help`)")


_TOP_EXAMPLES = """examples:
  routewatch demo                              the 60-second tour: three providers, a regression, a demotion
  routewatch replay spans.jsonl --plot out.png run the drift engine over exported spans, draw the alarms
  routewatch prices gpt-4o-mini                the price routewatch uses for a model, and where it comes from
  routewatch check router.yaml                 validate a router, monitor or collector config
  routewatch simulator --port 8000             serve the provider simulator until Ctrl-C
  routewatch collector --config collector.yaml run the routewatch collector (OTLP in, alarms out)
"""

_DEMO_EXAMPLES = """The run ends with one line per question (regression detected, provider demoted, traffic moved,
provider restored, traffic returned: yes/no with the evidence) and exits 0 only when all five happened.

examples:
  routewatch demo                              live view, about 60 s
  routewatch demo --duration 90 --no-live      longer run, plain lines (CI, pipes, busy machines)
  routewatch demo --scenario errors            the regression is a burst of 5xx instead
  routewatch demo --otlp-endpoint http://127.0.0.1:4317   also export spans to a collector
"""

_REPLAY_EXAMPLES = """examples:
  routewatch replay spans.jsonl                      alarms as a table
  routewatch replay spans.jsonl --json               alarms as JSON lines (one alarm per line)
  routewatch replay spans.jsonl --plot alarms.png    each alarmed signal with its baseline band and change point
  routewatch replay spans.jsonl --config monitor.yaml --signal latency --fa-per-100k 10

FILE holds OTLP-JSON traces: one ExportTraceServiceRequest per line (the format routewatch demo and the
OpenTelemetry Collector's file exporter write) or one JSON document. Only GenAI spans are replayed.
"""

_PRICES_EXAMPLES = """examples:
  routewatch prices gpt-4o-mini
  routewatch prices claude-haiku-4-5 --provider anthropic
  ROUTEWATCH_PRICES_FILE=prices.json routewatch prices my-finetune
  routewatch prices gemini-2.5-flash --json
"""

_CHECK_EXAMPLES = """examples:
  routewatch check router.yaml              detects router, monitor or collector config from its fields
  routewatch check monitor.toml --kind monitor
  routewatch check collector.json --json    the validated config, with defaults filled in, as JSON
"""


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="routewatch",
        description="OpenTelemetry-native observability and drift detection for LLM provider calls.",
        epilog=_TOP_EXAMPLES,
        formatter_class=raw,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser(
        "demo",
        help="simulated providers, a mixed workload, a regression, drift alarms and the router's response",
        description="Start the provider simulator with three providers, run chat, streaming, structured-output "
        "and tool calls through the official SDKs and the router, inject a regression into one provider, "
        "and show the alarm, the demotion, the traffic moving, the probes and the restoration.",
        epilog=_DEMO_EXAMPLES,
        formatter_class=raw,
    )
    demo.add_argument(
        "--duration",
        type=float,
        default=60.0,
        help="seconds for the whole demo, start-up included (10-600, default 60; a busy machine may add a few)",
    )
    demo.add_argument(
        "--scenario",
        default="latency-and-schema",
        help="the regression: latency-and-schema (default), latency, schema, errors",
    )
    demo.add_argument("--provider", default=None, help="which provider regresses: openai (default), anthropic, mistral")
    demo.add_argument("--otlp-endpoint", default=None, help="also export spans over OTLP/gRPC to this endpoint")
    demo.add_argument(
        "--traces", type=Path, default=Path("routewatch-demo-traces.jsonl"), help="local OTLP-JSON trace file"
    )
    demo.add_argument("--no-live", action="store_true", help="no live view: progress lines and a plain summary")
    demo.add_argument("--json", action="store_true", help="print the final summary as JSON (implies --no-live)")
    demo.add_argument("--seed", type=int, default=7, help="workload and simulator seed")

    replay = commands.add_parser(
        "replay",
        help="run the drift engine offline over exported OTLP-JSON spans and report the alarms",
        epilog=_REPLAY_EXAMPLES,
        formatter_class=raw,
    )
    replay.add_argument("file", type=Path, metavar="FILE", help="OTLP-JSON trace file ('-' reads stdin)")
    replay.add_argument("--config", type=Path, help="monitor config (YAML, TOML or JSON; MonitorConfig fields)")
    replay.add_argument("--signal", action="append", default=[], help="watch only these signals (repeatable)")
    replay.add_argument("--fa-per-100k", type=float, help="false-alarm budget per stream and signal")
    replay.add_argument("--warm-up", type=int, help="values each detector learns its baseline from")
    replay.add_argument("--json", action="store_true", help="one JSON alarm per line instead of a table")
    replay.add_argument("--all", action="store_true", help="also list recoveries, improvements and change events")
    replay.add_argument("--plot", type=Path, metavar="PNG", help="draw each alarmed signal to this PNG file")

    prices = commands.add_parser(
        "prices",
        help="the price routewatch uses for a model and where it comes from",
        epilog=_PRICES_EXAMPLES,
        formatter_class=raw,
    )
    prices.add_argument("model", metavar="MODEL")
    prices.add_argument("--provider", help="gen_ai.provider.name, e.g. openai, anthropic, gcp.gemini, mistral_ai")
    prices.add_argument("--json", action="store_true", help="print the price as JSON")

    check = commands.add_parser(
        "check",
        help="validate a router, monitor or collector config file",
        epilog=_CHECK_EXAMPLES,
        formatter_class=raw,
    )
    check.add_argument("config", type=Path, metavar="CONFIG", help="a YAML, TOML or JSON file")
    check.add_argument("--kind", choices=("router", "monitor", "collector"), help="skip the detection")
    check.add_argument("--json", action="store_true", help="print the validated config with defaults")

    # Both parse their own arguments (`_delegate`); these entries list them in the top-level help.
    commands.add_parser("simulator", help="serve the provider simulator (see `routewatch simulator --help`)")
    commands.add_parser("collector", help="run the routewatch collector (see `routewatch collector --help`)")
    return parser


_COLLECTOR_EXAMPLES = """examples:
  routewatch collector                                     OTLP/gRPC on 127.0.0.1:14317, HTTP on :14318
  routewatch collector --config collector/routewatch-collector.yaml
  routewatch collector --host 0.0.0.0 --snapshot /var/lib/routewatch/state.json
  routewatch collector --config collector.yaml --print-config   the effective config, then exit
  ROUTEWATCH_COLLECTOR_TOKEN=s3cret routewatch collector --tls-cert cert.pem --tls-key key.pem

Apps send OTLP to it (OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:14317); routers follow its verdicts
with routewatch.RemoteHealth("http://HOST:14318", router). Status page: http://HOST:14318/.
"""


# --- commands ------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    if not 10 <= args.duration <= 600:
        raise UserError("routewatch demo: --duration must be between 10 and 600 seconds")
    if args.otlp_endpoint is not None and not _looks_like_endpoint(args.otlp_endpoint):
        raise UserError(
            f"routewatch demo: --otlp-endpoint {args.otlp_endpoint!r} is not an endpoint; "
            "give http://HOST:PORT (plain) or https://HOST:PORT (TLS)"
        )
    from .demo import SCENARIOS, TARGETS, DemoError, run_demo

    names = [t.name for t in TARGETS]
    if args.provider is not None and args.provider not in names:
        raise UserError(f"routewatch demo: unknown --provider {args.provider!r}; choose from {', '.join(names)}")

    if args.scenario not in SCENARIOS:
        raise UserError(f"routewatch demo: unknown --scenario {args.scenario!r}; choose from {', '.join(SCENARIOS)}")
    try:
        return run_demo(
            duration_s=args.duration,
            scenario=args.scenario,
            regressed=args.provider,
            otlp_endpoint=args.otlp_endpoint,
            traces_path=args.traces,
            live=False if (args.no_live or args.json) else None,
            as_json=args.json,
            seed=args.seed,
        )
    except DemoError as exc:
        raise UserError(f"routewatch demo: {exc}", 1) from exc


def _looks_like_endpoint(text: str) -> bool:
    """`http(s)://host:port` or `host:port`: what the OTLP/gRPC exporter accepts."""
    from urllib.parse import urlsplit

    parts = urlsplit(text if "://" in text else f"http://{text}")
    try:
        port = parts.port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and (port is not None or "://" in text)


def _replay(args: argparse.Namespace) -> int:
    from .replay import run_replay

    code: int = run_replay(
        args.file,
        config_path=args.config,
        signals=tuple(args.signal),
        fa_per_100k=args.fa_per_100k,
        warm_up=args.warm_up,
        as_json=args.json,
        show_all=args.all,
        plot=args.plot,
    )
    return code


def _prices(args: argparse.Namespace) -> int:
    from .pricing import ENV_PRICES_FILE, PROVIDER_IDS, PriceBook, load_price_overrides

    overrides = {}
    path = os.environ.get(ENV_PRICES_FILE)
    if path:
        try:
            overrides = load_price_overrides(path)
        except (OSError, ValueError) as exc:
            raise UserError(f"routewatch prices: {ENV_PRICES_FILE}={path!r} is unusable: {exc}", 1) from exc
    if args.provider is not None and args.provider not in PROVIDER_IDS and not overrides:
        known = ", ".join(sorted(PROVIDER_IDS))
        raise UserError(f"routewatch prices: no price table for provider {args.provider!r} (known: {known})", 1)
    book = PriceBook(overrides)
    provider = args.provider or _guess_provider(args.model) or ""
    found = _rates(book, provider, args.model)
    if found is None:
        where = f" from provider {args.provider!r}" if args.provider else ""
        hint = f"; to price it, name a JSON file of prices in {ENV_PRICES_FILE}"
        print(
            f"{args.model}{where}: unpriced (not in genai-prices {_table_version()}{' or ' + path if path else ''})"
            f"{hint}; its calls get routewatch.cost.priced=false, never a cost of 0",
            file=sys.stderr,
        )
        return 1
    source, rates = found
    if args.json:
        print(json.dumps({"model": args.model, "provider": provider or None, "source": source, "per_1m_usd": rates}))
        return 0
    print(f"{args.model}" + (f" ({provider})" if provider else ""))
    print(f"  source:       {source}" + (f", overrides from {path}" if source == "override" else ""))
    for name, label in (
        ("input", "input"),
        ("output", "output"),
        ("cache_read", "cache read"),
        ("cache_write", "cache write"),
    ):
        value = rates.get(name)
        print(f"  {label + ':':13s} " + ("-" if value is None else f"${value:,.4f} / 1M tokens"))
    if rates.get("per_request"):
        print(f"  per request:  ${rates['per_request']:.6f}")
    return 0


def _table_version() -> str:
    try:
        from genai_prices import __version__
    except ImportError:  # pragma: no cover - a core dependency
        return "(not installed)"
    return str(__version__)


def _guess_provider(model: str) -> str | None:
    """The gen_ai.provider.name whose table entry matches `model`, via genai-prices' own matching."""
    from .pricing import PROVIDER_IDS

    try:
        from genai_prices import Usage, calc_price

        table_id = calc_price(Usage(), model).provider.id
    except Exception:  # LookupError for unknown models; nothing else should stop a price lookup
        return None
    for name, pid in PROVIDER_IDS.items():
        if pid == table_id:
            return name
    return None


def _rates(book: Any, provider: str, model: str) -> tuple[str, dict[str, float | None]] | None:
    """Per-1M-token rates, measured through `PriceBook.cost` so they are exactly what calls are billed."""
    from .records import Usage

    n = 1000  # small enough to stay under long-context tiers
    base = book.cost(provider, model, Usage(input_tokens=0, output_tokens=0))
    if not base.priced or base.usd is None:
        return None
    fixed = float(base.usd)

    def per_1m(usage: Usage) -> float:
        usd = book.cost(provider, model, usage).usd
        return round((float(usd or 0.0) - fixed) * 1e6 / n, 6)

    input_rate = per_1m(Usage(input_tokens=n, output_tokens=0))
    rates: dict[str, float | None] = {
        "input": input_rate,
        "output": per_1m(Usage(input_tokens=0, output_tokens=n)),
        "cache_read": per_1m(Usage(input_tokens=n, output_tokens=0, cache_read_input_tokens=n)),
        "cache_write": per_1m(Usage(input_tokens=n, output_tokens=0, cache_creation_input_tokens=n)),
        "per_request": fixed,
    }
    return base.source, rates


# --- check ---------------------------------------------------------------------------------------


def _toml_loads(text: str) -> Any:
    try:
        tomllib = importlib.import_module("tomllib")  # Python 3.11+
    except ImportError:
        try:
            tomllib = importlib.import_module("tomli")
        except ImportError:
            raise UserError("reading TOML needs Python 3.11+ or `pip install tomli`; use YAML or JSON", 1) from None
    return tomllib.loads(text)


_FORMATS = {".toml": "TOML", ".json": "JSON"}


def load_mapping(path: Path) -> dict[str, Any]:
    """A YAML, TOML or JSON file as a dict; format from the suffix, JSON/YAML sniffed otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}", 1) from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = _toml_loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # parse errors of three libraries; their messages carry line numbers
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        text = text.replace('in "<unicode string>", ', "at ")
        raise UserError(f"{path}: not valid {_FORMATS.get(suffix, 'YAML')}: {text}", 1) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}", 1)
    return data


def _config_kinds() -> dict[str, tuple[Callable[[dict[str, Any]], Any] | None, frozenset[str]]]:
    """kind -> (validator or None when that part is not installed, its top-level field names)."""
    from .drift import MonitorConfig

    kinds: dict[str, tuple[Callable[[dict[str, Any]], Any] | None, frozenset[str]]] = {
        "monitor": (MonitorConfig.model_validate, frozenset(MonitorConfig.model_fields)),
    }
    for kind, module, name in (("router", ".router", "RouterConfig"),
                               ("collector", ".collector.config", "CollectorConfig")):  # fmt: skip
        try:
            model: Any = getattr(importlib.import_module(module, __package__), name)
        except (ImportError, AttributeError):  # that part is not installed (or not built yet)
            kinds[kind] = (None, frozenset())
        else:
            kinds[kind] = (model.model_validate, frozenset(model.model_fields))
    return kinds


def _detect_kind(data: dict[str, Any], kinds: dict[str, tuple[Any, frozenset[str]]]) -> str:
    scores = {kind: len(set(data) & fields) for kind, (_, fields) in kinds.items()}
    best = max(scores, key=lambda k: scores[k])
    if scores[best] == 0:
        raise UserError(
            "cannot tell which config this is: none of its top-level keys "
            f"({', '.join(sorted(map(str, data))) or 'none'}) belongs to a router, monitor or collector config; "
            "pass --kind",
            1,
        )
    return best


def format_validation_error(exc: Any, source: str) -> list[str]:
    """One line per pydantic error, `source: field.path: message`; values are never echoed (a key
    pasted into the wrong field must not end up on a terminal or in CI logs)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error.get("loc", ())) or "(top level)"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        lines.append(f"{source}: {where}: {message}")
    return lines


def _check(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    data = load_mapping(args.config)
    kinds = _config_kinds()
    kind = args.kind or _detect_kind(data, kinds)
    validate = kinds[kind][0]
    if validate is None:
        raise UserError(f"{args.config}: looks like a {kind} config, but this routewatch cannot load those", 1)
    if kind == "router":
        return _check_router(args)
    try:
        config = validate(data)
    except ValidationError as exc:
        for line in format_validation_error(exc, str(args.config)):
            print(line, file=sys.stderr)
        print(f"{args.config}: invalid {kind} config ({exc.error_count()} error(s))", file=sys.stderr)
        return 1
    except ValueError as exc:  # a validator outside pydantic's field checks
        raise UserError(f"{args.config}: invalid {kind} config: {exc}", 1) from exc
    monitor = config if kind == "monitor" else getattr(config, "monitor", None)
    problems = detector_problems(monitor, str(args.config), "" if kind == "monitor" else "monitor.")
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        print(f"{args.config}: invalid {kind} config ({len(problems)} error(s))", file=sys.stderr)
        return 1
    if args.json:
        print(config.model_dump_json(indent=2))
    else:
        print(f"{args.config}: valid {kind} config")
    return 0


def detector_problems(monitor: Any, source: str, prefix: str = "") -> list[str]:
    """Build every detector `detector_overrides` configures: a misspelt or out-of-range parameter is
    found now, not when the first call of a stream arrives. One line per problem; values not echoed."""
    import inspect

    from .drift.detectors import DETECTORS

    lines = []
    for signal, overrides in (getattr(monitor, "detector_overrides", None) or {}).items():
        where = f"{source}: {prefix}detector_overrides.{signal}"
        if signal not in DETECTORS:
            lines.append(f"{where}: unknown signal (known: {', '.join(sorted(DETECTORS))})")
            continue
        cls, fixed = DETECTORS[signal]
        known = [name for name in inspect.signature(cls).parameters if name not in fixed]
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            lines.append(f"{where}: unknown parameter {', '.join(unknown)} (known: {', '.join(known)})")
            continue
        try:
            cls(**{**fixed, **overrides})
        except (TypeError, ValueError) as exc:  # "..., got <value>": the value stays off the terminal
            lines.append(f"{where}: {str(exc).split(', got ')[0]}")
    return lines


def _check_router(args: argparse.Namespace) -> int:
    """The router's own loader: its errors name each field by path (and target name), never a value."""
    from .router.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for line in exc.problems or (str(exc),):
            print(f"{args.config}: {line}" if exc.problems else line, file=sys.stderr)
        print(f"{args.config}: invalid router config ({len(exc.problems) or 1} error(s))", file=sys.stderr)
        return 1
    if args.json:
        print(config.model_dump_json(indent=2))
    else:
        names = ", ".join(t.name for t in config.targets)
        print(f"{args.config}: valid router config ({len(config.targets)} targets: {names})")
    return 0


# --- entry point ---------------------------------------------------------------------------------


def _delegate(command: str, argv: list[str]) -> int:
    if command == "simulator":
        from .simulator.__main__ import main as simulator_main

        return simulator_main(argv, prog="routewatch simulator")
    try:
        from .collector import main as collector_main  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        raise UserError(f"routewatch collector is not available in this installation ({exc})", 1) from exc
    if "-h" in argv or "--help" in argv:
        return _collector_help()
    result: int = collector_main(argv)
    return result


def _collector_help() -> int:
    """The collector's own help, with this command's examples under it."""
    from .collector import service

    parser: argparse.ArgumentParser = service._parser()
    parser.epilog = _COLLECTOR_EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.print_help()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] in (["simulator"], ["collector"]):
            return _delegate(args_list[0], args_list[1:])
        return _dispatch(args_list)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `routewatch replay ... | head`
        return 0
    except Exception:
        import traceback

        traceback.print_exc()
        print(f"routewatch: {ISSUES_HINT}", file=sys.stderr)
        return 70


def _dispatch(args_list: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.version:
        from .version import __version__

        print(f"routewatch {__version__}")
        return 0
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "demo": _demo,
        "replay": _replay,
        "prices": _prices,
        "check": _check,
    }
    handler = handlers.get(args.command or "")
    if handler is None:
        parser.print_help()
        return 2
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
