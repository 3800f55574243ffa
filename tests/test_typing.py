"""routewatch ships its type hints (py.typed): an app type-checking its own code sees routewatch's
types, not Any, including the read-only parameters of a detector."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

APP = """
    import routewatch
    from routewatch.drift.detectors import LogScaleCUSUM, make_detector

    monitor = routewatch.DriftMonitor()
    reveal_type(monitor.record)
    det = LogScaleCUSUM()
    reveal_type(det.hurting)
    reveal_type(det.warm_up)
    reveal_type(det.shifts)
    det.clip = 2.0
"""


def test_an_app_type_checking_against_routewatch_sees_its_types(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP))
    args = [str(app), "--no-incremental", "--cache-dir", str(tmp_path / "cache"), "--no-error-summary"]
    out, _, _ = mypy_api.run([*args, "--config-file", "", "--python-version", "3.11"])
    out = out.replace("builtins.", "")  # older mypy spells builtins out
    assert "py.typed" not in out, out  # the package says it is typed
    record = "def (call: routewatch.records.CallRecord) -> list[routewatch.drift.alarm.Alarm]"
    assert f'Revealed type is "{record}"' in out, out
    assert """Revealed type is "Literal['up'] | Literal['down']\"""" in out, out
    assert 'Revealed type is "int"' in out, out
    assert 'Revealed type is "tuple[float, ...]"' in out, out
    assert "app.py:11: error:" in out, out  # a parameter is read-only
