"""The collector's status page (GET /): one self-contained HTML document, no build step.

The server renders the whole page from the `/api/health` document, so it reads without JavaScript;
a small inline script re-renders the same sections from `/api/health` every few seconds and at
once when the event stream announces an alarm or a state change. Every value from the data is
escaped on the server (`html.escape`) and set with `textContent` in the browser: stream names,
models and explanations come from spans sent by any app and are never trusted as markup.
"""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = ["render_status_page"]

_DASH = "\u2013"  # unknown figure
QUALITY_SIGNALS = ("schema_invalid", "refusal", "truncated", "empty")
_QUALITY_NAMES = {"schema_invalid": "invalid JSON", "refusal": "refusals", "truncated": "truncated", "empty": "empty"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _seconds(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return _DASH
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _percent(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return _DASH
    return f"{value * 100:.1f} %"


def _figure(signals: dict[str, Any], signal: str, stat: str, fmt: Any) -> tuple[str, str, bool]:
    """(current, "baseline ...", in alarm) of one statistic of one signal, formatted."""
    entry = signals.get(signal) or {}
    if not entry:
        return _DASH, "no data", False
    current = (entry.get("current") or {}).get(stat)
    baseline = (entry.get("baseline") or {}).get(stat)
    progress = entry.get("warm_up_progress")
    if baseline is None and entry.get("phase") == "warm_up" and isinstance(progress, (int, float)):
        return fmt(current), f"learning baseline ({progress * 100:.0f} %)", bool(entry.get("in_alarm"))
    return fmt(current), f"baseline {fmt(baseline)}", bool(entry.get("in_alarm"))


def _cell(signals: dict[str, Any], signal: str, stat: str, fmt: Any) -> str:
    current, baseline, alarmed = _figure(signals, signal, stat, fmt)
    cls = "fig alarm" if alarmed else "fig"
    return (f'<td class="{cls}" data-signal="{_e(signal)}"><span class="now">{_e(current)}</span>'
            f'<span class="base">{_e(baseline)}</span></td>')  # fmt: skip


def _quality_cell(signals: dict[str, Any]) -> str:
    parts = []
    for signal in QUALITY_SIGNALS:
        if signal not in signals:
            continue
        current, baseline, alarmed = _figure(signals, signal, "mean", _percent)
        cls = "q alarm" if alarmed else "q"
        parts.append(f'<span class="{cls}" data-signal="{_e(signal)}">{_e(_QUALITY_NAMES[signal])} '
                     f'{_e(current)} <span class="base">({_e(baseline)})</span></span>')  # fmt: skip
    return f'<td class="quality">{"".join(parts) or _DASH}</td>'


def _badge(state: str) -> str:
    return f'<span class="badge state-{_e(state)}">{_e(state)}</span>'


def _stream_row(stream: dict[str, Any]) -> str:
    signals = stream.get("signals") or {}
    alarms = "".join(
        f'<li class="sev-{_e(a.get("severity"))}">{_e(a.get("explanation"))}</li>'
        for a in stream.get("open_alarms", [])
    )
    calls = stream.get("calls_observed") or stream.get("calls") or 0
    return (
        f'<tr class="stream" data-stream="{_e(stream.get("label"))}" data-state="{_e(stream.get("state"))}">'
        f'<th scope="row"><span class="name">{_e(stream.get("label"))}</span>'
        f'<span class="sub">{_e(calls)} calls</span></th>'
        f"<td>{_badge(str(stream.get('state')))}</td>"
        + _cell(signals, "latency", "p95", _seconds)
        + _cell(signals, "ttft", "p95", _seconds)
        + _cell(signals, "error", "mean", _percent)
        + _quality_cell(signals)
        + f'<td class="alarms"><ul>{alarms}</ul></td></tr>'
    )


def _alarm_item(alarm: dict[str, Any]) -> str:
    return (
        f'<li class="alarm sev-{_e(alarm.get("severity"))}" data-stream="{_e(alarm.get("label"))}">'
        f'<span class="sev">{_e(alarm.get("severity"))}</span> '
        f'<span class="what">{_e(alarm.get("label"))} · {_e(alarm.get("signal"))}</span> '
        f'<span class="explanation">{_e(alarm.get("explanation"))}</span> '
        f'<time datetime="{_e(alarm.get("detected_at"))}">{_e(_when(alarm.get("detected_at")))}</time></li>'
    )


def _fleet_row(health: dict[str, Any]) -> str:
    return (
        f'<tr data-target="{_e(health.get("target"))}"><th scope="row">{_e(health.get("target"))}</th>'
        f"<td>{_badge(str(health.get('state')))}</td>"
        f'<td>{_e(_weight(health.get("weight_factor")))}</td><td class="reason">{_e(health.get("reason"))}</td>'
        f'<td><time datetime="{_e(health.get("since"))}">{_e(_when(health.get("since")))}</time></td></tr>'
    )


def _when(value: Any) -> str:
    """ISO 8601 -> `2026-11-22 06:37:01 UTC` (what a person reads; the attribute keeps the ISO form)."""
    text = "" if value is None else str(value)
    if len(text) >= 19 and text[10] == "T":
        return text[:10] + " " + text[11:19] + " UTC"
    return text


def _weight(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else _DASH


def _summary(doc: dict[str, Any]) -> str:
    states: dict[str, int] = {}
    for stream in doc.get("streams", []):
        states[str(stream.get("state"))] = states.get(str(stream.get("state")), 0) + 1
    parts = [f"{len(doc.get('streams', []))} streams", f"{len(doc.get('open_alarms', []))} open alarms"]
    parts += [f"{n} {state}" for state, n in sorted(states.items()) if state != "healthy"]
    ingest = doc.get("collector")
    if isinstance(ingest, dict):
        parts.append(f"{ingest.get('spans_accepted', 0)} calls ingested")
        if ingest.get("spans_dropped"):
            parts.append(f"{ingest['spans_dropped']} spans dropped")
    return " · ".join(parts)


def render_status_page(doc: dict[str, Any], *, refresh_s: float = 5.0, api: str = "/api/health") -> str:
    """The whole page for one `/api/health` document."""
    streams = "".join(_stream_row(s) for s in doc.get("streams", []))
    alarms = "".join(_alarm_item(a) for a in doc.get("open_alarms", []))
    fleet = "".join(_fleet_row(h) for h in (doc.get("fleet") or {}).values())
    truncated = doc.get("streams_truncated") or 0
    settings = json.dumps({"api": api, "stream": api + "/stream", "refresh_ms": int(refresh_s * 1000)})
    return _PAGE.format(
        summary=_e(_summary(doc)),
        generated=_e(_when(doc.get("generated_at"))),
        alarms=alarms or '<li class="none">No open alarms.</li>',
        streams=streams or '<tr class="none"><td colspan="7">No calls seen yet.</td></tr>',
        truncated=f'<p class="note">{_e(truncated)} more streams not shown.</p>' if truncated else "",
        fleet=fleet or '<tr class="none"><td colspan="5">No targets yet.</td></tr>',
        settings=settings.replace("<", "\\u003c"),
        script=_SCRIPT,
        style=_STYLE,
    )


_STYLE = """
:root { --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; --mute:#57606a; --line:#d0d7de; --bg:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; }
header { padding: 14px 24px; border-bottom: 1px solid var(--line); display: flex; align-items: baseline; gap: 16px; }
header h1 { font-size: 18px; margin: 0; }
header .summary { color: var(--mute); }
header .live { margin-left: auto; color: var(--mute); font-size: 12px; }
main { padding: 8px 24px 32px; }
h2 { font-size: 15px; margin: 22px 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: 12px; color: var(--mute); font-weight: 600; background: var(--bg); }
tbody th { font-weight: 600; }
.name, .fig, .q, time { white-space: nowrap; }
.sub, .base { display: block; font-size: 12px; color: var(--mute); font-weight: normal; }
.fig .now { font-variant-numeric: tabular-nums; }
.alarm .now, .q.alarm, td.fig.alarm .now { color: var(--bad); font-weight: 600; }
.q { display: block; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  color: #fff; background: var(--mute); }
.state-healthy { background: var(--ok); } .state-degraded, .state-ramping { background: var(--warn); }
.state-ejected, .state-probing { background: var(--bad); }
ul { margin: 0; padding-left: 18px; }
#alarms { list-style: none; padding: 0; }
#alarms li { padding: 8px 12px; margin-bottom: 6px; border-left: 4px solid var(--warn); background: var(--bg); }
#alarms li.sev-critical { border-left-color: var(--bad); }
#alarms li.none { border-left-color: var(--ok); }
#alarms .sev { text-transform: uppercase; font-size: 11px; font-weight: 700; color: var(--mute); }
#alarms .what { font-weight: 600; }
#alarms .explanation { display: block; }
time { color: var(--mute); font-size: 12px; }
td.alarms li.sev-critical { color: var(--bad); }
.reason { max-width: 520px; }
.note { color: var(--mute); }
"""

_SCRIPT = r"""
(function () {
  const cfg = JSON.parse(document.getElementById("rw-settings").textContent);
  const Q = {schema_invalid: "invalid JSON", refusal: "refusals", truncated: "truncated", empty: "empty"};
  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
    for (const k of kids) n.append(k instanceof Node ? k : document.createTextNode(k == null ? "" : String(k)));
    return n;
  }
  const secs = v => typeof v !== "number" ? "\u2013" : v < 1 ? (v * 1000).toFixed(0) + " ms" : v.toFixed(2) + " s";
  const pct = v => typeof v !== "number" ? "\u2013" : (v * 100).toFixed(1) + " %";
  const when = t => typeof t === "string" && t[10] === "T"
    ? t.slice(0, 10) + " " + t.slice(11, 19) + " UTC" : (t || "");
  const time = t => el("time", {datetime: t || ""}, when(t));
  const badge = s => el("span", {class: "badge state-" + s}, s);
  function baseText(e, stat, fmt) {
    if (!Object.keys(e).length) return "no data";
    const base = (e.baseline || {})[stat];
    if (base == null && e.phase === "warm_up" && typeof e.warm_up_progress === "number")
      return "learning baseline (" + (e.warm_up_progress * 100).toFixed(0) + " %)";
    return "baseline " + fmt(base);
  }
  function fig(sig, name, stat, fmt) {
    const e = sig[name] || {};
    return el("td", {class: e.in_alarm ? "fig alarm" : "fig", "data-signal": name},
      el("span", {class: "now"}, fmt((e.current || {})[stat])), el("span", {class: "base"}, baseText(e, stat, fmt)));
  }
  function quality(sig) {
    const td = el("td", {class: "quality"});
    for (const name of Object.keys(Q)) {
      if (!(name in sig)) continue;
      const e = sig[name];
      td.append(el("span", {class: e.in_alarm ? "q alarm" : "q", "data-signal": name},
        Q[name] + " " + pct((e.current || {}).mean) + " ",
        el("span", {class: "base"}, "(" + baseText(e, "mean", pct) + ")")));
    }
    if (!td.childNodes.length) td.append("\u2013");
    return td;
  }
  function render(doc) {
    const states = {};
    for (const s of doc.streams) states[s.state] = (states[s.state] || 0) + 1;
    const parts = [doc.streams.length + " streams", doc.open_alarms.length + " open alarms"];
    for (const k of Object.keys(states).sort()) if (k !== "healthy") parts.push(states[k] + " " + k);
    if (doc.collector) {
      parts.push(doc.collector.spans_accepted + " calls ingested");
      if (doc.collector.spans_dropped) parts.push(doc.collector.spans_dropped + " spans dropped");
    }
    document.getElementById("summary").textContent = parts.join(" \u00b7 ");
    document.getElementById("generated").textContent = when(doc.generated_at);
    const alarms = document.getElementById("alarms");
    alarms.replaceChildren(...(doc.open_alarms.length ? doc.open_alarms.map(a =>
      el("li", {class: "alarm sev-" + a.severity, "data-stream": a.label},
        el("span", {class: "sev"}, a.severity), " ", el("span", {class: "what"}, a.label + " \u00b7 " + a.signal), " ",
        el("span", {class: "explanation"}, a.explanation), " ", time(a.detected_at)))
      : [el("li", {class: "none"}, "No open alarms.")]));
    const rows = doc.streams.map(s => {
      const sig = s.signals || {};
      return el("tr", {class: "stream", "data-stream": s.label, "data-state": s.state},
        el("th", {scope: "row"}, el("span", {class: "name"}, s.label),
          el("span", {class: "sub"}, (s.calls_observed || s.calls || 0) + " calls")),
        el("td", {}, badge(s.state)), fig(sig, "latency", "p95", secs), fig(sig, "ttft", "p95", secs),
        fig(sig, "error", "mean", pct), quality(sig),
        el("td", {class: "alarms"}, el("ul", {}, ...s.open_alarms.map(a =>
          el("li", {class: "sev-" + a.severity}, a.explanation)))));
    });
    document.getElementById("streams").replaceChildren(...(rows.length ? rows :
      [el("tr", {class: "none"}, el("td", {colspan: 7}, "No calls seen yet."))]));
    const fleet = Object.values(doc.fleet || {}).map(h => el("tr", {"data-target": h.target},
      el("th", {scope: "row"}, h.target), el("td", {}, badge(h.state)),
      el("td", {}, typeof h.weight_factor === "number" ? h.weight_factor.toFixed(2) : "\u2013"),
      el("td", {class: "reason"}, h.reason), el("td", {}, time(h.since))));
    document.getElementById("fleet").replaceChildren(...(fleet.length ? fleet :
      [el("tr", {class: "none"}, el("td", {colspan: 5}, "No targets yet."))]));
  }
  let pending = false;
  async function refresh() {
    if (pending) return;
    pending = true;
    try {
      const r = await fetch(cfg.api, {cache: "no-store"});
      if (r.ok) {
        render(await r.json());
        document.getElementById("live").textContent = "";
        document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
      }
    } catch (e) {
      document.getElementById("live").textContent = "(collector unreachable, retrying)";
    } finally { pending = false; }
  }
  setInterval(refresh, cfg.refresh_ms);
  refresh();
  // ?live=0: polling only (kiosks, screenshots, proxies that cut long-lived connections)
  if (window.EventSource && new URLSearchParams(location.search).get("live") !== "0") {
    const es = new EventSource(cfg.stream);
    es.addEventListener("alarm", refresh);
    es.addEventListener("state", refresh);
  }
})();
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>routewatch collector</title>
<style>{style}</style>
</head>
<body>
<header><h1>routewatch collector</h1><span class="summary" id="summary">{summary}</span>
<span class="live">as of <time id="generated">{generated}</time> <span id="live"></span></span></header>
<main>
<h2>Open alarms</h2>
<ul id="alarms">{alarms}</ul>
<h2>Streams</h2>
<table>
<thead><tr><th>provider / model</th><th>state</th><th>latency p95</th><th>time to first chunk p95</th>
<th>error rate</th><th>quality</th><th>open alarms</th></tr></thead>
<tbody id="streams">{streams}</tbody>
</table>
{truncated}
<h2>Fleet verdict</h2>
<table>
<thead><tr><th>target</th><th>state</th><th>weight</th><th>reason</th><th>since</th></tr></thead>
<tbody id="fleet">{fleet}</tbody>
</table>
</main>
<script type="application/json" id="rw-settings">{settings}</script>
<script>{script}</script>
</body>
</html>
"""
