"""The reference docs keep up with the code: every telemetry name and config field is documented,
and every relative link points at a file that exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import routewatch.semconv as sc
from routewatch.collector.config import CollectorConfig
from routewatch.drift import MonitorConfig
from routewatch.router import config as router_config
from routewatch.router.health import HealthPolicy

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "routewatch"
_NOT_TELEMETRY = ("SEMCONV_VERSION", "SCHEMA_URL", "ENV_CAPTURE_CONTENT")
# Names routewatch writes: an attribute, event, metric or span name, or a routewatch-specific value.
_NAME = re.compile(r"^(gen_ai|routewatch)\.[a-z0-9_.]*( <[a-z_]*>)?$")
# Calls whose string arguments name a logger, tracer, meter or module, not telemetry.
_NOT_TELEMETRY_CALLS = {"getLogger", "get_tracer", "get_meter", "import_module", "find_spec"}
# The read side: OTLP in, CallRecords out. It names other instrumentations' attributes and sets none.
_READS_ONLY = ("otlp",)


def _constants() -> list[str]:
    names = []
    for key, value in vars(sc).items():
        if key.isupper() and isinstance(value, str) and key not in _NOT_TELEMETRY and not key.startswith("OP_"):
            names.append(value + "<>" if value.endswith(".") else value)
    return names


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """Docstrings, logger/tracer/meter/module names, `-m module` arguments, and the pieces of f-strings."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _NOT_TELEMETRY_CALLS:
                skip.update(id(arg) for arg in node.args)
        elif isinstance(node, (ast.List, ast.Tuple)):
            for before, item in zip(node.elts, node.elts[1:], strict=False):
                if isinstance(before, ast.Constant) and before.value == "-m":
                    skip.add(id(item))
        elif isinstance(node, ast.JoinedStr):
            skip.update(id(part) for part in node.values)
    return skip


def _literal(node: ast.AST) -> str | None:
    """A string constant, or an f-string with each placeholder written `<>`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(p.value if isinstance(p, ast.Constant) else "<>" for p in node.values)
    return None


def _emitted_names() -> dict[str, str]:
    """Every telemetry-looking string literal in the source, with the first file that has it.

    Prefixes (`routewatch.tag.`) and f-string families (`routewatch.shadow.{key}`) come back as
    `routewatch.tag.<>`, which the docs must write as a family (`routewatch.tag.<key>`).
    """
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in _READS_ONLY:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _skipped_nodes(tree)
        for node in ast.walk(tree):
            text = _literal(node) if id(node) not in skip else None
            if text is None:
                continue
            if text.endswith("."):
                text += "<>"
            if _NAME.match(text.replace(".<>", "").replace(" <>", " <x>")):
                found.setdefault(text, str(rel))
    return found


EMITTED = _emitted_names()


def test_the_source_scan_finds_what_the_code_emits() -> None:
    # a sample from each kind of emit site, so a scanner that finds nothing cannot pass
    for name in ("routewatch.router.gave_up", "routewatch.shadow.primary_ok", "routewatch.alarm.deferred",
                 "routewatch.drift.alarm", "routewatch.route <>", "routewatch.shadow.<>", "routewatch.tag.<>",
                 "routewatch.router.target.weight", "gen_ai.client.operation.duration"):  # fmt: skip
        assert name in EMITTED, name
    assert not any(name.startswith(("routewatch.collector", "routewatch.simulator")) for name in EMITTED)


def _documented(name: str, text: str) -> bool:
    if name.endswith(".<>") or name.endswith(" <>"):  # a family: `routewatch.tag.<key>`, `routewatch.route <task>`
        return f"`{name[:-1]}" in text
    # grouped rows write a family once: `gen_ai.request.max_tokens`, `.temperature`, ...
    head, _, last = name.rpartition(".")
    return f"`{name}`" in text or (bool(head) and f"`.{last}`" in text and f"`{head}." in text)


@pytest.mark.parametrize("name", sorted(set(_constants()) | set(EMITTED)))
def test_every_emitted_name_is_in_the_telemetry_reference(name: str) -> None:
    text = (DOCS / "telemetry.md").read_text()
    assert _documented(name, text), f"{name} (in {EMITTED.get(name, 'semconv.py')}) is not in docs/telemetry.md"


def test_the_pinned_convention_version_is_stated() -> None:
    assert sc.SEMCONV_VERSION in (DOCS / "telemetry.md").read_text()


MODELS = [
    MonitorConfig, HealthPolicy, CollectorConfig, router_config.RouterConfig, router_config.Target,
    router_config.TaskPolicy, router_config.Objectives, router_config.RetryBudgetConfig, router_config.StatsConfig,
    router_config.ClassifierConfig, router_config.Rule, router_config.Canary, router_config.Shadow,
]  # fmt: skip


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_config_field_is_in_the_configuration_reference(model: type) -> None:
    text = (DOCS / "configuration.md").read_text()
    fields = [name for name, field in model.model_fields.items() if not field.exclude]  # type: ignore[attr-defined]
    missing = [name for name in fields if f"`{name}`" not in text]
    assert not missing, f"{model.__name__}: {missing} not documented in docs/configuration.md"


def test_environment_variables_are_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    for variable in (sc.ENV_CAPTURE_CONTENT, "ROUTEWATCH_INCLUDE_USAGE", "ROUTEWATCH_PRICES_FILE",
                     "ROUTEWATCH_COLLECTOR_TOKEN"):  # fmt: skip
        assert variable in text


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_readme_links_the_docs() -> None:
    assert "docs/" in (ROOT / "README.md").read_text()
