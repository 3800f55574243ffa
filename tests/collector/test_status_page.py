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


class Page(HTMLParser):
    """The bits of the DOM the test reads: stream rows (state, text), alarm texts, script bodies, body attrs."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.alarms: list[str] = []
        self.scripts: list[str] = []
        self.body: dict[str, str] = {}
        self.tags: list[str] = []
        self._row: str | None = None
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
        if tag == "li" and "alarm" in a.get("class", "").split():
            self._alarm = True
            self.alarms.append("")
        self._script = tag == "script"
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        if tag == "li":
            self._alarm = False
        if tag == "script":
            self._script = False

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self.rows[self._row]["text"] += data
        if self._alarm:
            self.alarms[-1] += data
        if self._script:
            self.scripts[-1] += data


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    public = ["/", "/api/health", "/api/health/stream"]
    with Collector(collector_config(outputs={"public_paths": public, "status_refresh_s": 1.0})) as running:
        inject_regression(running)
        post_spans(running, genai_span_request(60, median_s=2.0, provider="anthropic", model="claude-x"))
        post_spans(running, genai_span_request(5, median_s=1.0, model=EVIL))
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
