"""Provider API parsers: pure functions from request and response bytes to `RequestFacts` and
`ResponseFacts`, one flavour per wire format, looked up by id with `get_parser`."""

from __future__ import annotations

from .base import ApiParser, StreamParser
from .registry import PARSERS, get_parser

__all__ = ["PARSERS", "ApiParser", "StreamParser", "get_parser"]
