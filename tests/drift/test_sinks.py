"""Alarm sinks: what leaves the process, and what never does."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from routewatch.drift import Alarm, WebhookSink


def test_a_failing_webhook_is_logged_without_the_secret_in_its_url(caplog: pytest.LogCaptureFixture) -> None:
    """Chat webhooks (Slack, Discord, Teams) carry their secret in the path; the warning names the host."""

    class Failing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{server.server_port}"
    alarm = Alarm(
        kind="change", stream_key={"provider": "p", "model": "m"}, signal="model_mismatch", direction="changed",
        detector="change_tracker", detected_at=datetime.now(timezone.utc), explanation="x",
    )  # fmt: skip
    try:
        with caplog.at_level("WARNING", logger="routewatch.drift"):
            sink = WebhookSink(f"http://{host}/services/T0AAA/B0BBB/s3cr3tT0ken?k=v", retries=1, backoff_s=0.01)
            sink(alarm)
            sink.close(timeout_s=10)
    finally:
        server.shutdown()
    assert sink.failed == 1
    assert f"http://{host}" in caplog.text
    assert "s3cr3tT0ken" not in caplog.text and "B0BBB" not in caplog.text
