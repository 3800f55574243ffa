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


_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_NOT_OURS = {"PYTHONPATH"}  # the demo passes Python's own path on to its simulator process


def _env_variables() -> dict[str, str]:
    """Every environment variable the library or an example reads or sets, with a file that does.

    Found by reading the code: `os.environ.get/setdefault/pop(X)`, `os.environ[X]`, `os.getenv(X)`
    (X a literal, a module constant or a semconv constant), and module constants named `*ENV*`.
    """
    found: dict[str, str] = {}
    files = [*sorted(SRC.rglob("*.py")), *sorted((ROOT / "examples").glob("*.py"))]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = str(path.relative_to(ROOT))
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }  # fmt: skip
        names = [value for name, value in constants.items() if "ENV" in name]

        def resolve(arg: ast.AST, constants: dict[str, str] = constants) -> str | None:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                return arg.value
            if isinstance(arg, ast.Name):
                return constants.get(arg.id)
            if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "sc":
                return getattr(sc, arg.attr, None)
            return None

        for node in ast.walk(tree):
            arg = None
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault", "pop"):
                    if "environ" in ast.unparse(func.value):
                        arg = node.args[0]
                elif (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                    isinstance(func, ast.Name) and func.id == "getenv"
                ):
                    arg = node.args[0]
            elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
                arg = node.slice
            if arg is not None:
                names.append(resolve(arg) or "")
        for name in names:
            if _ENV_NAME.match(name) and name not in _NOT_OURS:
                found.setdefault(name, rel)
    return found


ENV_VARIABLES = _env_variables()


def test_the_environment_scan_finds_the_variables_the_code_reads() -> None:
    assert {sc.ENV_CAPTURE_CONTENT, "ROUTEWATCH_INCLUDE_USAGE", "ROUTEWATCH_PRICES_FILE", "ROUTEWATCH_COLLECTOR_TOKEN",
            "LITELLM_LOCAL_MODEL_COST_MAP", "ROUTEWATCH_SIMULATOR_URL"} <= set(ENV_VARIABLES)  # fmt: skip


@pytest.mark.parametrize("variable", sorted(ENV_VARIABLES))
def test_every_environment_variable_is_documented(variable: str) -> None:
    text = (DOCS / "configuration.md").read_text()
    assert f"`{variable}`" in text, f"{variable} (used in {ENV_VARIABLES[variable]}) is not in docs/configuration.md"


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_readme_links_the_docs() -> None:
    assert "docs/" in (ROOT / "README.md").read_text()


_BLOCK = re.compile(r"^```(yaml|yml|toml)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_CONFIG_NAME = re.compile(r"^#\s*([\w.-]+\.(?:yaml|yml|toml))\s*$")


def _config_blocks() -> list[tuple[str, str, str]]:
    """(page, file name, text) of every YAML/TOML block in docs/ that names its file on its first line."""
    blocks = []
    for page in sorted(DOCS.glob("*.md")):
        for _, body in _BLOCK.findall(page.read_text(encoding="utf-8")):
            first = body.splitlines()[0] if body.strip() else ""
            if match := _CONFIG_NAME.match(first):
                blocks.append((page.name, match[1], body))
    return blocks


CONFIG_BLOCKS = _config_blocks()


def test_the_docs_config_files_are_found() -> None:
    assert {("routing.md", "router.yaml"), ("detectors.md", "monitor.yaml")} <= {(p, n) for p, n, _ in CONFIG_BLOCKS}


@pytest.mark.parametrize(("page", "name", "text"), CONFIG_BLOCKS, ids=[f"{p}:{n}" for p, n, _ in CONFIG_BLOCKS])
def test_every_config_file_in_the_docs_passes_routewatch_check(
    page: str, name: str, text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from routewatch.cli import main

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code = main(["check", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, f"docs/{page}: {name} fails `routewatch check`:\n{err}"
    assert out.startswith(f"{path}: valid ")
