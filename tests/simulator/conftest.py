"""Each test gets its own simulator, so scenarios and request logs never leak between tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from routewatch.simulator import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator
