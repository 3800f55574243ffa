"""Shared by the dashboard and alert-rule tests: what routewatch really emits."""

from __future__ import annotations

import promnames
import pytest


@pytest.fixture(scope="session")
def emitted() -> dict[str, set[str] | None]:
    """Series name -> labels it carries (None: emitted, labels not measured)."""
    out: dict[str, set[str] | None] = dict.fromkeys(promnames.in_process_series())
    out.update(promnames.in_process_labels())
    for name, labels in promnames.exposition_series(promnames.collector_exposition()).items():
        known = out.get(name)
        out[name] = labels if known is None else known if labels is None else known | labels
    return out
