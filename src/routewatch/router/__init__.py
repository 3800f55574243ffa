"""Routing on provider health: the health state machine and the feedback hook that drives it.

(Minimal re-exports from the health workstream; the Router workstream extends this module.)
"""

from __future__ import annotations

from .health import HealthBook, HealthPolicy, TargetHealth, TargetState, Transition

__all__ = ["HealthBook", "HealthPolicy", "TargetHealth", "TargetState", "Transition"]
