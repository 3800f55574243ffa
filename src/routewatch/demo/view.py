"""How the demo looks: a live `rich` view on a terminal, plain progress lines everywhere else."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from .tally import Event, Row, Tally

__all__ = ["LiveView", "PlainView"]

_STATE_STYLE = {
    "healthy": "bold green",
    "degraded": "bold yellow",
    "ejected": "bold red",
    "probing": "bold magenta",
    "ramping": "bold cyan",
}
_EVENT_STYLE = {
    "phase": "bold blue",
    "alarm": "bold red",
    "recovered": "green",
    "transition": "yellow",
    "probe": "magenta",
    "change": "dim",
}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


class LiveView:
    """One row per provider, a progress bar with the regression window on it, and the latest events."""

    def __init__(
        self, tally: Tally, states: Callable[[], dict[str, tuple[str, float, str]]], title: str,
        duration_s: float, inject_at_s: float, recover_at_s: float, console: Any = None,
        story: Callable[[], list[str]] | None = None,
    ) -> None:  # fmt: skip
        from rich.console import Console
        from rich.live import Live

        self.tally = tally
        self.states = states
        self.title = title
        self.duration_s = duration_s
        self.inject_at_s = inject_at_s
        self.recover_at_s = recover_at_s
        self.console = console or Console()
        self.story = story
        self._live = Live(get_renderable=self._render, console=self.console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.refresh()
        self._live.__exit__(None, None, None)

    def on_event(self, event: Event) -> None:  # the live view re-renders; nothing to print
        pass

    def _render(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        now = min(self.tally.now(), self.duration_s)
        states = self.states()
        table = Table(expand=True, title=self.title, title_justify="left", title_style="bold")
        for name, justify in (
            ("provider", "left"), ("model", "left"), ("router", "left"), ("weight", "right"), ("req/s", "right"),
            ("p95 latency", "right"), ("p95 TTFT", "right"), ("errors", "right"), ("quality fail", "right"),
            ("cost", "right"),
        ):  # fmt: skip
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for t in self.tally.targets:
            row: Row = self.tally.row(t.name)
            state, weight, _ = states.get(t.name, ("?", 0.0, ""))
            table.add_row(
                t.name, t.model, Text(state, style=_STATE_STYLE.get(state, "")), f"{weight:.2f}",
                f"{row.rate:.0f}", _ms(row.p95_latency_s), _ms(row.p95_ttft_s), _pct(row.error_rate),
                _pct(row.quality_failure_rate), f"${row.cost_usd:.4f}",
            )  # fmt: skip
        phase = (
            "baseline" if now < self.inject_at_s else "REGRESSION INJECTED" if now < self.recover_at_s else "recovered"
        )
        bar = Table.grid(expand=True)
        bar.add_column(ratio=1)
        bar.add_column(width=34)
        bar.add_row(
            ProgressBar(total=self.duration_s, completed=now),
            Text(f" {now:4.0f}/{self.duration_s:.0f} s  {phase}", style="bold red" if "INJ" in phase else ""),
        )
        lines = Text()
        for event in self.tally.events[-9:]:
            lines.append(f"{event.at:6.1f} s  ", style="dim")
            lines.append(f"{event.kind:10s} ", style=_EVENT_STYLE.get(event.kind, ""))
            lines.append(f"{event.target:10s} {event.text}\n")
        events = Panel(lines or Text("waiting for the detectors' baselines...", style="dim"), title="events")
        if self.story is None:
            return Group(table, bar, events)
        verdicts = Text(no_wrap=True, overflow="ellipsis")
        for line in self.story():
            question, _, answer = line.partition(": ")
            verdicts.append(f"{question + ':':21s}", style="bold")
            verdicts.append(answer + "\n", style="green" if answer.startswith("yes") else "dim")
        return Group(table, bar, Panel(verdicts, title="so far"), events)


class PlainView:
    """For pipes and CI: events as they happen and a status line every few seconds, no terminal control."""

    def __init__(self, tally: Tally, states: Callable[[], dict[str, tuple[str, float, str]]],
                 out: TextIO | None = None) -> None:  # fmt: skip
        self.tally = tally
        self.states = states
        self.out = out or sys.stdout

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def on_event(self, event: Event) -> None:
        print(f"[{event.at:6.1f} s] {event.kind:10s} {event.target:10s} {event.text}", file=self.out, flush=True)

    def status(self) -> None:
        states = self.states()
        parts = []
        for t in self.tally.targets:
            row = self.tally.row(t.name)
            parts.append(
                f"{t.name} {states.get(t.name, ('?',))[0]} {row.rate:.0f}/s p95 {_ms(row.p95_latency_s)} "
                f"err {_pct(row.error_rate)} quality {_pct(row.quality_failure_rate)}"
            )
        print(f"[{self.tally.now():6.1f} s] status     " + " | ".join(parts), file=self.out, flush=True)
