"""routewatch's router: targets, per-task policies, failover, health-driven demotion, decision spans.

router = routewatch.Router("router.yaml")
reply = router.run(lambda client, model: client.chat.completions.create(model=model, messages=msgs))
"""

from __future__ import annotations

from .config import ConfigError, RouterConfig, Target, TaskPolicy, load_config
from .feedback import Attachment, Demotable, attach
from .health import HealthBook, HealthPolicy, TargetHealth, TargetState, Transition
from .router import Choice, ConfigWatcher, NoTargetAvailable, Router

__all__ = [
    "Attachment",
    "Choice",
    "ConfigError",
    "ConfigWatcher",
    "Demotable",
    "HealthBook",
    "HealthPolicy",
    "NoTargetAvailable",
    "Router",
    "RouterConfig",
    "Target",
    "TargetHealth",
    "TargetState",
    "TaskPolicy",
    "Transition",
    "attach",
    "load_config",
]
