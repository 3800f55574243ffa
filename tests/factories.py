"""Builders for records in tests (a valid CallRecord with only what a test cares about changed), and
a fork helper."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from routewatch.records import CallRecord, RateLimits, RequestFacts, ResponseFacts, Usage


def make_record(
    *, request: dict[str, Any] | None = None, response: dict[str, Any] | None = None, **fields: Any
) -> CallRecord:
    """A successful, non-streamed OpenAI chat call; keyword arguments override any field."""
    usage = fields.pop("usage", Usage(input_tokens=10, output_tokens=20))
    response_facts = replace(
        ResponseFacts(
            response_id="chatcmpl-1", response_model="gpt-4o-mini-2024-07-18", finish_reasons=("stop",),
            usage=usage, output_text="hello", shape=("choices", "id", "model", "object", "usage"),
        ),
        **(response or {}),
    )  # fmt: skip
    base: dict[str, Any] = dict(
        provider="openai", operation="chat", api="openai.chat_completions", request_model="gpt-4o-mini",
        response_model=response_facts.response_model, server_address="api.openai.com", server_port=443,
        start_time_unix_nano=1_700_000_000_000_000_000, duration_s=0.8, status_code=200, error_type=None,
        stream=False, stream_completed=None, time_to_first_chunk_s=None, chunk_intervals_s=(), usage=usage,
        cost_usd=0.0001, priced=True, output_tokens_per_s=25.0, finish_reasons=response_facts.finish_reasons,
        response_id="chatcmpl-1", retry_count=None, rate_limits=RateLimits(), tags=(),
        request=replace(RequestFacts(model="gpt-4o-mini"), **(request or {})), response=response_facts,
    )  # fmt: skip
    base.update(fields)
    return CallRecord(**base)


@contextmanager
def held_by_another_thread(lock: Any) -> Iterator[None]:
    """While the block runs, another thread holds `lock` (as a worker would at the moment of a fork)."""
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        yield
    finally:
        release.set()
        thread.join(10)


def exit_code_in_forked_child(child: Callable[[], int], timeout_s: float = 10.0) -> int | None:
    """Fork; run `child()` in the child and exit with what it returns (1 if it raised). The child's
    exit code, or None when it had not exited after `timeout_s` (it is then killed): a deadlock."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            code = child()
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None
