"""Just enough PromQL reading for tests: the metric names and label names an expression uses, Grafana
variables replaced by values Prometheus accepts, and a real parse by promtool.

Metric names are found by removing string literals, label matchers `{...}`, ranges `[...]` and
grouping clauses (`by (...)`, `on (...)`, ...), then taking the identifiers that are neither
followed by `(` (functions) nor PromQL keywords.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
            "group_right", "inf", "nan", "atan2", "start", "end"}  # fmt: skip
# Labels that are not metric attributes: the scrape's, and resource attributes the exporter turns into
# labels (resource_to_telemetry_conversion in otel-collector.yaml).
SCRAPE_LABELS = {"job", "instance"}
RESOURCE_LABEL_PREFIXES = ("service_", "deployment_", "host_", "k8s_", "otel_scope_")
GRAFANA_DURATIONS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__auto": "1m"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![a-zA-Z0-9_:])(?!\s*\()")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUP_LABELS = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
_VARIABLE = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")


def grafana_to_promql(expr: str) -> str:
    """Grafana variables replaced: interval macros by durations, template variables by `.*` (they
    only appear inside regex matchers here)."""
    return _VARIABLE.sub(lambda m: GRAFANA_DURATIONS.get(m.group(1), ".*"), expr)


def variables_in(expr: str) -> set[str]:
    return {m.group(1) for m in _VARIABLE.finditer(expr)} - set(GRAFANA_DURATIONS)


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENT.findall(text) if name not in KEYWORDS}


def selector_labels(expr: str) -> dict[str, set[str]]:
    """Metric name -> label names used in its matchers."""
    out: dict[str, set[str]] = {}
    for name, body in _SELECTOR.findall(expr):
        if name in KEYWORDS:
            continue
        out.setdefault(name, set()).update(_MATCHER.findall(_STRING.sub('""', body)))
    return out


def grouping_labels(expr: str) -> set[str]:
    return {label.strip() for group in _GROUP_LABELS.findall(expr) for label in group.split(",") if label.strip()}


def promtool_parse_errors(exprs: Iterable[str]) -> str | None:
    """Parse every expression with promtool (as recording rules); None when all parse, else its output."""
    assert PROMTOOL is not None
    rules = [{"record": f"check:expr_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exprs.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "exprs", "rules": rules}]}))
        done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    return None if done.returncode == 0 else done.stdout + done.stderr


def unknown_references(expr: str, emitted: Mapping[str, set[str] | None], defined: Collection[str] = ()) -> list[str]:
    """What `expr` asks for that the code does not emit (metric names, then labels). `defined`: names
    the rules themselves record."""
    problems = [f"metric {name}" for name in sorted(metric_names(expr)) if name not in emitted and name not in defined]
    available: set[str] = set(SCRAPE_LABELS)
    unmeasured = False
    for name in metric_names(expr):
        labels = emitted.get(name)
        if labels is None:
            unmeasured = True
        else:
            available |= labels
    for name, used in selector_labels(expr).items():
        labels = emitted.get(name)
        if labels is None:
            continue
        for label in sorted(used - labels - SCRAPE_LABELS):
            if not label.startswith(RESOURCE_LABEL_PREFIXES):
                problems.append(f"label {label} on {name}")
    if not unmeasured:
        for label in sorted(grouping_labels(expr) - available):
            if not label.startswith(RESOURCE_LABEL_PREFIXES):
                problems.append(f"grouping label {label}")
    return problems


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_expressions(model: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, expr) for every PromQL expression: panel targets, annotations, variable queries."""
    for panel in panels(model):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for ann in model["annotations"]["list"]:
        if "expr" in ann:
            yield f"annotation {ann['name']!r}", ann["expr"]
    for var in model["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            assert match, f"variable {var['name']}: expected label_values(selector, label), got {query!r}"
            yield f"variable {var['name']!r}", match.group(1)
