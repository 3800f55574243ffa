"""Alarms reach Alertmanager's v2 API as it expects: labels that identify the alert, the explanation
as summary, re-posts while firing, endsAt on recovery; failures retried, never blocking the caller."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from routewatch.collector.alertmanager import AlertmanagerSink
from routewatch.drift import Alarm, SignalStats

# What Alertmanager (and Prometheus) accept as a label name; one bad name refuses the whole batch.
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class FakeAlertmanager:
    """Records every POST /api/v2/alerts; `fail_next` answers that many posts with 503. As Alertmanager
    does, a batch with an invalid label name is refused as a whole (400) and recorded in `refused`."""

    def __init__(self) -> None:
        self.posts: list[list[dict]] = []
        self.paths: list[str] = []
        self.refused: list[list[dict]] = []
        self.fail_next = 0
        self.cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with fake.cond:
                    fake.paths.append(self.path)
                    if fake.fail_next > 0:
                        fake.fail_next -= 1
                        self.send_response(503)
                        self.end_headers()
                        return
                    assert self.headers["content-type"] == "application/json"
                    batch = json.loads(body)
                    alerts = batch if isinstance(batch, list) else []  # (a webhook's alarm is an object)
                    if not all(LABEL_NAME.fullmatch(name) for alert in alerts for name in alert["labels"]):
                        fake.refused.append(batch)
                        self.send_response(400)
                        self.end_headers()
                        return
                    fake.posts.append(batch)
                    fake.cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_posts(self, n: int, timeout_s: float = 5.0) -> list[list[dict]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.posts) >= n, timeout_s), self.posts
            return list(self.posts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def am() -> Iterator[FakeAlertmanager]:
    fake = FakeAlertmanager()
    yield fake
    fake.close()


def alarm(
    kind: str = "alarm", severity: str = "critical", explanation: str | None = None, extra: dict[str, str] | None = None
) -> Alarm:
    stream_key = {"provider": "anthropic", "model": "claude-x", "operation": "chat", "extra": extra or {}}
    return Alarm(
        kind=kind, stream_key=stream_key,
        signal="latency", direction="up", detector="LogScaleCUSUM", detected_at=datetime.now(timezone.utc),
        before=SignalStats(n=300, mean=0.5, p95=0.8), after=SignalStats(n=40, mean=1.5, p95=2.2),
        severity=severity, calls_since_change=40,
        explanation=explanation or "p95 latency of anthropic/claude-x rose from 800 ms to 2.20 s over 40 calls",
    )  # fmt: skip


def parse(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_an_alarm_is_posted_at_once_with_its_labels_and_explanation(am: FakeAlertmanager) -> None:
    sink = AlertmanagerSink(am.url, resend_interval_s=60, external_labels={"collector": "eu-1"})
    try:
        sink(alarm())
        [batch] = am.wait_posts(1)
        assert am.paths == ["/api/v2/alerts"]
        [alert] = batch
        assert alert["labels"] == {"alertname": "RouteWatchDrift", "provider": "anthropic", "model": "claude-x",
                                   "operation": "chat", "signal": "latency", "severity": "critical",
                                   "collector": "eu-1"}  # fmt: skip
        assert alert["annotations"]["summary"].startswith("p95 latency of anthropic/claude-x rose")
        starts, ends = parse(alert["startsAt"]), parse(alert["endsAt"])
        assert ends - starts > 200  # firing: valid for four resend intervals, so a dead sender times out
    finally:
        sink.close()


def test_extra_dimensions_become_valid_distinct_label_names(am: FakeAlertmanager) -> None:
    """Dimension names are free text, label names are not: invalid characters become `_`, a leading
    digit gets a `_` before it, and names that then collide (with each other or with the alert's own
    labels) get a numbered suffix, so no dimension is lost and two streams never share one alert."""
    extra = {"1st-tier": "gold", "tenant.id": "a", "tenant_id": "b", "model": "fine-tune-7", "": "blank"}
    sink = AlertmanagerSink(am.url, resend_interval_s=60, external_labels={"collector": "eu-1"}, retries=0)
    try:
        sink(alarm(extra=extra))
        am.wait_posts(1)
        sink(alarm(extra={**extra, "tenant.id": "c"}))  # another stream: another alert
        alerts = [alert for batch in am.wait_posts(2) for alert in batch]
        assert am.refused == []
        labels = alerts[0]["labels"]
        assert {name: labels[name] for name in labels if name not in ("alertname", "signal", "severity")} == {
            "provider": "anthropic", "model": "claude-x", "operation": "chat", "collector": "eu-1",
            "_": "blank", "_1st_tier": "gold", "model_2": "fine-tune-7", "tenant_id": "a", "tenant_id_2": "b",
        }  # fmt: skip
        assert {alert["labels"]["tenant_id"] for alert in alerts} == {"a", "c"}
        assert len(sink.firing()) == 2
    finally:
        sink.close()


def test_firing_alerts_are_re_posted_and_a_recovery_sets_ends_at(am: FakeAlertmanager) -> None:
    sink = AlertmanagerSink(am.url, resend_interval_s=0.2)
    try:
        sink(alarm())
        posts = am.wait_posts(3)  # the first post, then re-posts every 0.2 s while it fires
        assert all(p[0]["labels"]["signal"] == "latency" for p in posts)
        assert posts[0][0]["startsAt"] == posts[2][0]["startsAt"]
        assert len(sink.firing()) == 1
        recovered = alarm("recovered", "info", "p95 latency of anthropic/claude-x is back at its baseline (790 ms)")
        sink(recovered)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            resolved = [a for p in am.posts for a in p if parse(a["endsAt"]) <= time.time()]
            if resolved:
                break
            time.sleep(0.02)
        assert resolved, am.posts
        assert resolved[0]["labels"]["severity"] == "critical"  # the same alert (same labels) ends
        assert abs(parse(resolved[0]["endsAt"]) - recovered.detected_at.timestamp()) < 1e-3
        assert sink.firing() == []
    finally:
        sink.close()


def test_an_alarm_that_fires_again_while_open_changes_nothing_unless_more_severe(am: FakeAlertmanager) -> None:
    sink = AlertmanagerSink(am.url, resend_interval_s=60)
    try:
        sink(alarm(severity="warning"))
        am.wait_posts(1)
        sink(alarm(severity="warning", explanation="p95 latency of anthropic/claude-x rose from 2.0 s to 2.4 s"))
        time.sleep(0.2)
        assert len(am.posts) == 1
        sink(alarm(severity="critical"))
        posts = am.wait_posts(2)
        by_severity = {a["labels"]["severity"]: a for a in posts[1]}
        assert parse(by_severity["warning"]["endsAt"]) <= time.time()  # the warning alert ends ...
        assert parse(by_severity["critical"]["endsAt"]) > time.time()  # ... the critical one fires
        assert [f["severity"] for f in sink.firing()] == ["critical"]
    finally:
        sink.close()


def test_an_improvement_does_not_end_the_alert(am: FakeAlertmanager) -> None:
    sink = AlertmanagerSink(am.url, resend_interval_s=60)
    try:
        sink(alarm())
        am.wait_posts(1)
        sink(alarm("recovered", "info", "improvement: p95 latency of anthropic/claude-x fell from 2.2 s to 1.9 s"))
        time.sleep(0.2)
        assert len(am.posts) == 1 and len(sink.firing()) == 1
    finally:
        sink.close()


def test_failed_posts_are_retried_with_backoff(am: FakeAlertmanager) -> None:
    am.fail_next = 2
    sink = AlertmanagerSink(am.url, resend_interval_s=60, retries=3, backoff_s=0.05)
    try:
        sink(alarm())
        am.wait_posts(1)
        deadline = time.monotonic() + 5
        while sink.posts == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(am.paths) == 3 and sink.posts == 1 and sink.failed_posts == 0
    finally:
        sink.close()


def test_an_unreachable_alertmanager_never_blocks_the_caller() -> None:
    sink = AlertmanagerSink("http://127.0.0.1:9", resend_interval_s=60, retries=2, backoff_s=0.05, timeout_s=0.5)
    try:
        started = time.perf_counter()
        for _ in range(1000):
            sink(alarm())
        assert time.perf_counter() - started < 1.0
        deadline = time.monotonic() + 5
        while sink.failed_posts == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sink.failed_posts >= 1 and sink.posts == 0
        assert len(sink.firing()) == 1  # one alert, however often it was reported
    finally:
        sink.close(timeout_s=1)


def test_every_alertmanager_of_an_ha_pair_gets_the_alert(am: FakeAlertmanager) -> None:
    other = FakeAlertmanager()
    sink = AlertmanagerSink([am.url, other.url + "/api/v2/alerts"], resend_interval_s=60)
    try:
        sink(alarm())
        assert am.wait_posts(1)[0][0]["labels"]["alertname"] == "RouteWatchDrift"
        assert other.wait_posts(1)[0][0]["labels"]["alertname"] == "RouteWatchDrift"
    finally:
        sink.close()
        other.close()


def test_change_events_are_not_alerts_by_default(am: FakeAlertmanager) -> None:
    sink = AlertmanagerSink(am.url, resend_interval_s=60)
    try:
        key = {"provider": "openai", "model": "m", "operation": "chat", "extra": {}}
        change = Alarm(kind="change", stream_key=key, signal="model_mismatch", direction="changed",
                       detector="change_tracker", detected_at=datetime.now(timezone.utc), severity="info",
                       explanation="answered with m2")  # fmt: skip
        sink(change)
        time.sleep(0.2)
        assert am.posts == [] and sink.firing() == []
    finally:
        sink.close()


def test_a_collector_configured_with_alertmanager_and_a_webhook_sends_both(am: FakeAlertmanager) -> None:
    import httpx
    from outputs_support import TOKEN, collector_config, inject_regression
    from prometheus_client.parser import text_string_to_metric_families

    from routewatch.collector import Collector

    hook = FakeAlertmanager()  # records any JSON POST: here the webhook's alarms
    outputs = {"alertmanager_urls": [am.url], "webhook_url": hook.url + "/hooks/routewatch",
               "external_labels": {"collector": "test"}, "public_url": "http://status.example/"}  # fmt: skip
    try:
        with Collector(collector_config(outputs=outputs)) as collector:
            inject_regression(collector)
            [alert] = am.wait_posts(1)[0]
            assert alert["labels"]["signal"] == "latency" and alert["labels"]["collector"] == "test"
            assert alert["annotations"]["summary"].startswith("p95 latency of openai/gpt-4o-mini rose")
            assert alert["generatorURL"] == "http://status.example/"
            posted = hook.wait_posts(1)[0]
            assert hook.paths[0] == "/hooks/routewatch"
            assert posted["kind"] == "alarm" and posted["signal"] == "latency"
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # deliveries are counted in /metrics once answered
                text = httpx.get(collector.http_url + "/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text
                counts = {(s.labels["sink"], s.labels["result"]): s.value for f in text_string_to_metric_families(text)
                          for s in f.samples if s.name == "routewatch_collector_alert_deliveries_total"}  # fmt: skip
                if counts.get(("alertmanager", "ok")) and counts.get(("webhook", "ok")):
                    break
                time.sleep(0.05)
            assert counts[("alertmanager", "ok")] == 1  # the alarm that re-fired while open is not a new post
            assert counts[("webhook", "ok")] >= 1 and counts[("webhook", "failed")] == 0
    finally:
        hook.close()
