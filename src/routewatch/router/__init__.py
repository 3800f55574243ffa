"""Routing on provider health: the health state machine and the feedback hook that drives it.

(Minimal re-exports from the health workstream; the Router workstream extends this module.)
"""

from __future__ import annotations

from .feedback import Attachment, Demotable, attach
from .health import HealthBook, HealthPolicy, TargetHealth, TargetState, Transition

__all__ = [
    "Attachment",
    "Demotable",
    "HealthBook",
    "HealthPolicy",
    "TargetHealth",
    "TargetState",
    "Transition",
    "attach",
]
