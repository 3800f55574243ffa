"""The package version, in one place (read by pyproject via hatch and by the tracer/meter scope)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
