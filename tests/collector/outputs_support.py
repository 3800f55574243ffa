"""Shared by the collector-output tests: a drift monitor tuned to alarm within a few hundred calls,
and streams of call records with an injected latency regression."""

from __future__ import annotations

import random
from collections.abc import Iterable

from factories import make_record
from routewatch.drift import DriftMonitor, MonitorConfig
from routewatch.records import CallRecord

FAST = {"warm_up": 300}
FAST_CONFIG = MonitorConfig(detector_overrides={s: FAST for s in ("latency", "ttft", "error")})
T0 = 1_700_000_000


def fast_monitor(**config: object) -> DriftMonitor:
    return DriftMonitor(FAST_CONFIG.model_copy(update=config) if config else FAST_CONFIG, sinks=[])


def calls(
    n: int, *, median_s: float, provider: str = "openai", model: str = "gpt-4o-mini", seed: int = 1,
    start: int = 0, tags: tuple[tuple[str, str], ...] = (), error_every: int = 0,
) -> Iterable[CallRecord]:  # fmt: skip
    """`n` streamed calls with lognormal latency around `median_s` (time to first chunk a third of it)."""
    rng = random.Random(seed)
    for i in range(n):
        duration = median_s * rng.lognormvariate(0, 0.3)
        failed = error_every > 0 and i % error_every == 0
        yield make_record(
            provider=provider, request_model=model, duration_s=duration, stream=True,
            time_to_first_chunk_s=duration / 3, start_time_unix_nano=int((T0 + start + i) * 1e9), tags=tags,
            error_type="server_error" if failed else None, status_code=500 if failed else 200,
        )  # fmt: skip


def regression(baseline: int = 600, after: int = 300, **kw: object) -> list[CallRecord]:
    """Latency x3 after `baseline` calls: enough for the fast monitor to alarm."""
    before = list(calls(baseline, median_s=0.5, **kw))  # type: ignore[arg-type]
    later = list(calls(after, median_s=1.5, start=baseline, seed=2, **kw))  # type: ignore[arg-type]
    return before + later
