"""`routewatch replay`: the drift engine run offline over exported spans, to tune detectors on real history.

Spans come from an OTLP-JSON file (what `routewatch demo`, routewatch's `OTLPJsonFileExporter` or the
OpenTelemetry Collector's file exporter write); GenAI spans become `CallRecord`s in the order they
ended and go through a `DriftMonitor` exactly as they would in process. The alarms are reported as a
table or JSON lines, and `--plot` draws each alarmed signal: its values, the baseline band before the
change, the estimated change point and the moment of detection.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cli import UserError, format_validation_error, load_mapping
from .drift import Alarm, DriftMonitor, MonitorConfig, StreamKey
from .drift.detectors import SIGNALS
from .records import CallRecord

__all__ = ["ReplayResult", "replay_records", "run_replay"]

_RATE_SIGNALS = frozenset(
    {"error", "rate_limited", "server_error", "schema_invalid", "refusal", "truncated", "empty"}
)  # fmt: skip
_MAX_PLOTS = 12


@dataclass
class ReplayResult:
    """What a replay saw: the calls, every alarm and the value series of each (stream, signal)."""

    calls: int = 0
    alarms: list[Alarm] = field(default_factory=list)
    series: dict[tuple[StreamKey, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    detected_at: dict[int, int] = field(default_factory=dict)  # id(alarm) -> index in its series
    streams: set[StreamKey] = field(default_factory=set)


def replay_records(records: list[CallRecord], config: MonitorConfig | None = None) -> ReplayResult:
    """Feed `records` (sorted by end time here; by start time when the duration is unknown) through a
    fresh monitor; nothing is logged or exported."""
    monitor = DriftMonitor(config, sinks=[])
    result = ReplayResult()

    def on_alarm(alarm: Alarm) -> None:
        result.alarms.append(alarm)
        result.detected_at[id(alarm)] = len(result.series.get((alarm.key, alarm.signal), ()))

    monitor.subscribe(on_alarm)
    watched = monitor.config.signals
    for call in sorted(records, key=lambda c: c.start_time_unix_nano + (c.duration_s or 0.0) * 1e9):
        key = monitor.key_for(call)
        result.streams.add(key)
        for signal, value in DriftMonitor.signals_of(call):
            if watched is None or signal in watched:
                result.series[(key, signal)].append(value)
        monitor.record(call)
        result.calls += 1
    return result


def _config(path: Path | None, signals: tuple[str, ...], fa_per_100k: float | None, warm_up: int | None) -> Any:
    from pydantic import ValidationError

    from .drift.detectors import make_detector

    data: dict[str, Any] = load_mapping(path) if path is not None else {}
    unknown = [s for s in signals if s not in SIGNALS]
    if unknown:
        raise UserError(f"unknown --signal {', '.join(unknown)}; known: {', '.join(sorted(SIGNALS))}")
    if signals:
        data["signals"] = list(signals)
    if fa_per_100k is not None:
        data["false_alarms_per_100k"] = fa_per_100k
    if warm_up is not None:
        overrides = dict(data.get("detector_overrides") or {})
        for signal in data.get("signals") or sorted(SIGNALS):
            overrides[signal] = {**overrides.get(signal, {}), "warm_up": warm_up}
        data["detector_overrides"] = overrides
    try:
        config = MonitorConfig.model_validate(data)
        for signal, overrides in config.detector_overrides.items():  # bad parameters fail here, not mid-replay
            make_detector(signal, **{"fa_per_100k": config.false_alarms_per_100k, **overrides})
    except ValidationError as exc:
        raise UserError("; ".join(format_validation_error(exc, str(path or "options"))), 1) from exc
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path or 'options'}: bad detector settings: {exc}", 1) from exc
    return config


def _records(path: Path) -> list[CallRecord]:
    from .otlp.file_exporter import read_records
    from .otlp.json_format import OTLPJSONError

    source = path
    temp: str | None = None
    if str(path) == "-":
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as handle:
            handle.write(sys.stdin.read())
            temp = handle.name
        source = Path(temp)
    try:
        return list(read_records(source))
    except FileNotFoundError:
        raise UserError(f"no such file: {path}", 1) from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory; give an OTLP-JSON trace file", 1) from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}", 1) from exc
    except (OTLPJSONError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: not OTLP JSON traces: {exc}", 1) from exc
    finally:
        if temp is not None:
            os.unlink(temp)


def run_replay(
    path: Path,
    *,
    config_path: Path | None = None,
    signals: tuple[str, ...] = (),
    fa_per_100k: float | None = None,
    warm_up: int | None = None,
    as_json: bool = False,
    show_all: bool = False,
    plot: Path | None = None,
) -> int:
    """The `routewatch replay` command: 0 when the file was replayed (alarms or not), 1 on bad input."""
    config = _config(config_path, signals, fa_per_100k, warm_up)
    records = _records(path)
    if not records:
        raise UserError(f"{path}: no GenAI spans (spans with gen_ai.operation.name) to replay", 1)
    if not any(r.response.output_text is not None for r in records):
        # Spans carry no prompt or output text unless content capture was on: without it these two
        # verdicts would read every structured reply as invalid and every reply as empty.
        blind = {"schema_invalid", "empty"}
        watched = tuple(s for s in (config.signals or sorted(SIGNALS)) if s not in blind)
        config = config.model_copy(update={"signals": watched})
        print(
            "note: the spans carry no output content, so schema_invalid and empty are not replayed "
            "(export with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true to include them)",
            file=sys.stderr,
        )
    result = replay_records(records, config)
    shown = [a for a in result.alarms if show_all or a.kind == "alarm"]
    if as_json:
        for alarm in shown:
            print(alarm.model_dump_json())
    else:
        _print_table(shown, result, path)
    if plot is not None:
        drawn = plot_alarms(result, plot)
        print(f"plot: {plot} ({drawn} alarmed signal{'s' if drawn != 1 else ''})", file=sys.stderr)
    return 0


def _print_table(alarms: list[Alarm], result: ReplayResult, path: Path) -> None:
    print(f"{result.calls} GenAI calls from {path}, {len(result.streams)} streams; {len(alarms)} alarm(s)")
    if not alarms:
        return
    width = max(len(a.key.label()) for a in alarms)
    print(f"{'detected (UTC)':19s}  {'kind':9s}  {'stream':{width}s}  {'signal':14s}  {'severity':8s}  explanation")
    for a in alarms:
        when = a.detected_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when:19s}  {a.kind:9s}  {a.key.label():{width}s}  {a.signal:14s}  {a.severity:8s}  {a.explanation}")


def plot_alarms(result: ReplayResult, path: Path) -> int:
    """Draw every (stream, signal) that alarmed: values, baseline band, change point, detection. Returns the count."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UserError("--plot needs matplotlib: pip install 'routewatch[plot]'", 1) from exc
    firsts: dict[tuple[StreamKey, str], Alarm] = {}
    for alarm in result.alarms:
        if alarm.kind == "alarm":
            firsts.setdefault((alarm.key, alarm.signal), alarm)
    panels = list(firsts.items())[:_MAX_PLOTS]
    rows = max(1, len(panels))
    fig, axes = plt.subplots(rows, 1, figsize=(10, 2.8 * rows), squeeze=False)
    if not panels:
        axes[0][0].text(0.5, 0.5, "no alarms", ha="center", va="center", fontsize=14)
        axes[0][0].set_axis_off()
    for ax, ((key, signal), alarm) in zip((row[0] for row in axes), panels, strict=False):
        _panel(ax, key, signal, alarm, result)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}", 1) from exc
    finally:
        plt.close(fig)
    return len(panels)


def _panel(ax: Any, key: StreamKey, signal: str, alarm: Alarm, result: ReplayResult) -> None:
    values = result.series[(key, signal)]
    xs = list(range(1, len(values) + 1))
    rate = signal in _RATE_SIGNALS
    window = max(10, len(values) // 40)
    if rate:
        ax.plot(xs, _rolling_mean(values, window), lw=1.2, color="tab:blue", label=f"rate (last {window} calls)")
        ax.set_ylabel(f"{signal} rate")
    else:
        ax.scatter(xs, values, s=4, color="tab:blue", alpha=0.35, label="calls")
        ax.plot(xs, _rolling_median(values, window), lw=1.2, color="tab:blue", label=f"median of last {window}")
        ax.set_ylabel(_UNITS.get(signal, signal))
        if min(values, default=1.0) > 0 and max(values) / max(min(values), 1e-12) > 20:
            ax.set_yscale("log")
    before = alarm.before
    if before is not None and before.mean is not None:
        if rate:
            p = before.mean
            half = 2 * math.sqrt(max(p * (1 - p), 1e-9) / window)
            low, high = max(0.0, p - half), p + half
            label = f"baseline {p:.2%} ± 2 sd"
        else:
            low = before.p50 if before.p50 is not None else before.mean
            high = before.p95 if before.p95 is not None else before.mean
            label = "baseline p50-p95"
        ax.axhspan(low, high, color="tab:green", alpha=0.18, label=label)
    if alarm.change_index is not None:
        ax.axvline(alarm.change_index, color="tab:orange", ls="--", lw=1.2, label="estimated change")
    detected = result.detected_at.get(id(alarm))
    if detected:
        ax.axvline(detected, color="tab:red", lw=1.2, label="alarm")
    title = f"{key.label()} - {signal}: {alarm.explanation}".replace("$", r"\$")  # not mathtext
    ax.set_title(title, fontsize=8, loc="left")
    ax.set_xlabel(f"{signal} values of this stream, in call order")
    ax.legend(fontsize=7, loc="upper left")


_UNITS = {
    "latency": "latency (s)",
    "ttft": "time to first chunk (s)",
    "tpot": "time per output chunk (s)",
    "tokens_per_s": "output tokens/s",
    "output_tokens": "output tokens",
    "cost": "cost (USD)",
}


def _rolling_mean(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _rolling_median(values: list[float], window: int) -> list[float]:
    import statistics

    return [statistics.median(values[max(0, i - window + 1) : i + 1]) for i in range(len(values))]
