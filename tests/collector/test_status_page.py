"""The status page, loaded by a real headless Chromium from a collector that ingested spans with an
injected latency regression: the stream, its state and the alarm's explanation are on the page,
both as the server rendered it and after the page's script refreshed it; data is never markup."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest
from outputs_support import TOKEN, collector_config, genai_span_request, inject_regression, post_spans

from routewatch.collector import Collector

CHROMIUM = next((p for name in ("chromium", "chromium-browser")
                 for p in (shutil.which(name), f"/usr/bin/{name}") if p and os.path.exists(p)), None)  # fmt: skip
pytestmark = pytest.mark.requires_tool("chromium")
EVIL = "evil<img src=x onerror=window.__pwned=1><script>window.__pwned=1</script>"


def chromium(*args: str, timeout_s: float = 60) -> str:
    assert CHROMIUM is not None
    flags = ["--headless", "--disable-gpu", "--no-first-run", "--disable-extensions", "--hide-scrollbars"]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")
    done = subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=timeout_s, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """The bits of the DOM the test reads: stream rows (state, text, each figure's text by signal),
    alarm texts, fleet rows (cell texts), script bodies, body attrs."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.figures: dict[str, dict[str, str]] = {}  # stream -> signal -> text of its cell (or quality entry)
        self.fleet: dict[str, list[str]] = {}  # target -> texts of its cells
        self.alarms: list[str] = []
        self.scripts: list[str] = []
        self.body: dict[str, str] = {}
        self.tags: list[str] = []
        self._row: str | None = None
        self._target: str | None = None
        self._open: list[tuple[str, str | None]] = []  # (tag, signal) of the elements open inside a stream row
        self._alarm = self._script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "body":
            self.body = a
        if tag == "tr" and "stream" in a.get("class", "").split():
            self._row = a["data-stream"]
            self.rows[self._row] = {"state": a["data-state"], "text": ""}
            self.figures[self._row] = {}
        elif self._row is not None and tag not in _VOID:
            signal = a.get("data-signal") or (self._open[-1][1] if self._open else None)
            self._open.append((tag, signal))
            if signal is not None and a.get("data-signal"):
                self.figures[self._row][signal] = ""
        if tag == "tr" and "data-target" in a:
            self._target = a["data-target"]
            self.fleet[self._target] = []
        if self._target is not None and tag in ("th", "td"):
            self.fleet[self._target].append("")
        if tag == "li" and "alarm" in a.get("class", "").split():
            self._alarm = True
            self.alarms.append("")
        self._script = tag == "script"
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = self._target = None
            self._open = []
        elif self._row is not None:
            while self._open and self._open.pop()[0] != tag:
                pass
        if tag == "li":
            self._alarm = False
        if tag == "script":
            self._script = False

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self.rows[self._row]["text"] += data
            signal = self._open[-1][1] if self._open else None
            if signal is not None:
                self.figures[self._row][signal] += data
        if self._target is not None and self.fleet[self._target]:
            self.fleet[self._target][-1] += data
        if self._alarm:
            self.alarms[-1] += data
        if self._script:
            self.scripts[-1] += data


KNOWN = "mistral_ai/known-model"  # sent as provider "mistral": the collector's name for it


def known_stream_request() -> bytes:
    """40 streamed calls: 4 fail (10 %); of the 36 that answer, 31 take 1 s with the first chunk at 200 ms
    and 5 take 2 s with it at 600 ms (the p95s), 9 were cut at max tokens (25.0 %), 3 refused (8.3 %)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    answered = 0
    for i in range(40):
        attrs: dict[str, object] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "mistral", "gen_ai.request.model": "known-model",
            "gen_ai.request.stream": True,
        }  # fmt: skip
        failed = i % 10 == 9
        slow = i % 10 == 4 or i == 7  # 5 of the answered calls
        attrs["gen_ai.response.time_to_first_chunk"] = 0.6 if slow else 0.2
        if failed:
            attrs["error.type"] = "500"
        else:
            answered += 1
            attrs["gen_ai.response.finish_reasons"] = (
                ["length"] if answered % 4 == 0 else ["content_filter"] if answered % 12 == 1 else ["stop"]
            )
        t = (1_700_000_000 + i) * 10**9
        span = tracer.start_span("chat known-model", kind=SpanKind.CLIENT, attributes=attrs, start_time=t)  # type: ignore[arg-type]
        if failed:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=t + (2 if slow else 1) * 10**9)
    return bytes(encode_spans(exporter.get_finished_spans()).SerializeToString())


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    public = ["/", "/api/health", "/api/health/stream"]
    with Collector(collector_config(outputs={"public_paths": public, "status_refresh_s": 1.0})) as running:
        inject_regression(running)
        post_spans(running, genai_span_request(60, median_s=2.0, provider="anthropic", model="claude-x"))
        post_spans(running, genai_span_request(5, median_s=1.0, model=EVIL))
        post_spans(running, known_stream_request())
        yield running


def check(page: Page) -> None:
    regressed = page.rows["openai/gpt-4o-mini"]
    assert regressed["state"] == "degraded"
    assert "degraded" in regressed["text"] and "baseline" in regressed["text"]
    assert "p95 latency of openai/gpt-4o-mini rose from" in regressed["text"]
    assert page.rows["anthropic/claude-x"]["state"] == "healthy"
    assert any(a.startswith("critical") or a.startswith("warning") for a in page.alarms)
    assert any("p95 latency of openai/gpt-4o-mini rose from" in a for a in page.alarms)
    # the hostile model name is text in a row, not an element or a script
    assert f"openai/{EVIL}" in page.rows
    assert page.tags.count("img") == 0
    assert not any("__pwned" in script for script in page.scripts)
    # A stream with known figures: each cell shows its own, formatted, next to the baseline's state.
    known = page.figures[KNOWN]
    assert page.rows[KNOWN]["state"] == "healthy" and "40 calls" in page.rows[KNOWN]["text"]
    assert known["latency"].startswith("2.00 s") and "baseline" in known["latency"]
    assert known["ttft"].startswith("600 ms") and "baseline" in known["ttft"]
    assert known["error"].startswith("10.0 %") and "baseline" in known["error"]
    assert known["truncated"].startswith("truncated 25.0 %")
    assert known["refusal"].startswith("refusals 8.3 %")
    assert "empty" not in known  # spans carry no output text: the collector does not judge emptiness
    # The fleet verdict (what a router attached to this collector would do) for both streams.
    target, state, weight, reason, _since = page.fleet[KNOWN]
    assert (target, state, weight) == (KNOWN, "healthy", "1.00")
    target, state, weight, reason, _since = page.fleet["openai/gpt-4o-mini"]
    assert state == "degraded" and 0 < float(weight) < 1
    assert "p95 latency of openai/gpt-4o-mini rose from" in reason


def test_the_server_rendered_page_shows_streams_states_and_explanations(collector: Collector) -> None:
    response = httpx.get(collector.http_url + "/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    check(Page(response.text))
    assert "calls ingested" in response.text


def test_chromium_sees_the_regression_after_the_script_refreshed_the_page(collector: Collector) -> None:
    dom = chromium("--virtual-time-budget=3000", "--dump-dom", collector.http_url + "/?live=0")
    page = Page(dom)
    assert int(page.body.get("data-refreshes", "0")) >= 1  # rendered by the page's own script from /api/health
    check(page)
    assert "__pwned" not in page.body.get("data-refreshes", "")


def test_the_page_and_api_need_the_token_unless_made_public() -> None:
    with Collector(collector_config()) as private:
        assert httpx.get(private.http_url + "/").status_code == 401
        assert httpx.get(private.http_url + "/metrics").status_code == 401
        ok = httpx.get(private.http_url + "/", headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and "routewatch collector" in ok.text


def test_the_live_page_subscribes_to_the_event_stream(collector: Collector) -> None:
    before = collector.outputs.hub.subscriptions
    page = Page(chromium("--timeout=1500", "--dump-dom", collector.http_url + "/"))
    assert collector.outputs.hub.subscriptions > before  # EventSource on /api/health/stream: pushes refresh it
    check(page)
