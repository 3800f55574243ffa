"""The reference docs keep up with the code: every telemetry name and config field is documented,
and every relative link points at a file that exists."""

from __future__ import annotations

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
_NOT_TELEMETRY = ("SEMCONV_VERSION", "SCHEMA_URL", "ENV_CAPTURE_CONTENT")


def _telemetry_names() -> list[str]:
    names = []
    for key, value in vars(sc).items():
        if key.isupper() and isinstance(value, str) and key not in _NOT_TELEMETRY and not key.startswith("OP_"):
            names.append(value)
    return names


@pytest.mark.parametrize("name", _telemetry_names())
def test_every_emitted_name_is_in_the_telemetry_reference(name: str) -> None:
    text = (DOCS / "telemetry.md").read_text()
    # grouped rows write a family once: `gen_ai.request.max_tokens`, `.temperature`, ...
    head, _, last = name.rpartition(".")
    assert f"`{name}" in text or (head and f"`.{last}`" in text and f"`{head}." in text), name


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
