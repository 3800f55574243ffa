"""loads_or_none: the C scanner's fast path answers as json.loads does, or None where it raises."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from routewatch.providers._json import loads_or_none

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def _reference(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except Exception:
        return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@given(JSON, st.sampled_from(["", " ", "\n\t ", " x", "{}", "\x00"]), st.booleans())
def test_encoded_json_reads_as_json_loads_reads_it(value: Any, suffix: str, ascii_only: bool) -> None:
    data = (json.dumps(value, ensure_ascii=ascii_only) + suffix).encode("utf-8", "surrogatepass")
    assert _same(loads_or_none(data), _reference(data))


@given(st.binary(max_size=64))
def test_any_bytes_read_as_json_loads_reads_them(data: bytes) -> None:
    assert _same(loads_or_none(b"{" + data), _reference(b"{" + data))
    assert _same(loads_or_none(data), _reference(data))
