"""The HTTP layer and the Simulator's life cycle: keep-alive, chunked bodies, pacing, logging, routing,
run-time scenario swaps and a clean stop."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

import routewatch.simulator as simulator_package
from routewatch.simulator import Phase, ProviderSettings, Scenario, Simulator

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_package_exports_a_sorted_all() -> None:
    assert simulator_package.__all__ == sorted(simulator_package.__all__)


def test_health_and_unknown_paths(sim: Simulator) -> None:
    assert httpx.get(sim.url + "/health").json() == {"status": "ok"}
    missing = httpx.post(sim.url + "/v1/unknown", json={})
    assert missing.status_code == 404 and "error" in missing.json()
    assert httpx.get(sim.url + "/v1/chat/completions").status_code == 405


def test_keep_alive_serves_many_requests_on_one_connection(sim: Simulator) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        body = json.dumps(CHAT).encode()
        request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        conn.sendall(request * 3)
        data = b""
        while data.count(b"HTTP/1.1 200") < 3 or not data.endswith(b"}"):
            chunk = conn.recv(65536)
            assert chunk, "connection closed early"
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 3


def test_chunked_request_body_is_read(sim: Simulator) -> None:
    def body() -> object:
        yield json.dumps(CHAT).encode()

    response = httpx.post(sim.url + "/v1/chat/completions", content=body())  # type: ignore[arg-type]
    assert response.status_code == 200
    assert sim.requests[-1].headers["transfer-encoding"] == "chunked"
    assert sim.requests[-1].body == CHAT


def test_invalid_json_body_is_a_provider_error(sim: Simulator) -> None:
    response = httpx.post(sim.url + "/v1/chat/completions", content=b"{not json")
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_streams_are_paced_and_each_chunk_arrives_on_its_own(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(ttft_s=0.05, per_token_s=0.01, output_tokens=10))
    arrivals = []
    start = time.perf_counter()
    with httpx.stream("POST", sim.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        for _ in response.iter_raw():
            arrivals.append(time.perf_counter() - start)
    assert len(arrivals) >= 10
    assert 0.05 <= arrivals[0] < 0.3
    assert 0.14 <= arrivals[-1] < 0.6


def test_a_client_leaving_mid_stream_does_not_disturb_the_server(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(per_token_s=0.01, output_tokens=50))
    with httpx.stream("POST", sim.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        next(response.iter_raw())
    time.sleep(0.05)
    assert httpx.get(sim.url + "/health").status_code == 200


def test_non_streamed_latency(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(latency_s=0.1))
    start = time.perf_counter()
    httpx.post(sim.url + "/v1/chat/completions", json=CHAT)
    assert 0.1 <= time.perf_counter() - start < 0.5


def test_jitter_is_seeded_and_reported_in_processing_time(sim: Simulator) -> None:
    def delays(seed: int) -> list[int]:
        sim.set_scenario(Scenario(seed=seed, default=ProviderSettings(latency_s=0.01, jitter_sigma=0.5)))
        with httpx.Client(base_url=sim.url) as http:
            return [int(http.post("/v1/chat/completions", json=CHAT).headers["openai-processing-ms"]) for _ in range(5)]

    first = delays(1)
    assert first == delays(1) != delays(2)
    assert len(set(first)) > 1


def test_request_log_is_bounded_and_redacted() -> None:
    with Simulator(log_size=2) as sim:
        for n in range(3):
            httpx.post(sim.url + "/v1/chat/completions", json={**CHAT, "n": n}, headers={"authorization": "Bearer s"})
        assert [r.body["n"] for r in sim.requests] == [1, 2]
        method, path, headers, body = sim.requests[-1]
        assert (method, path, headers["authorization"]) == ("POST", "/v1/chat/completions", "<redacted>")
        assert body == {**CHAT, "n": 2}
        sim.clear_requests()
        assert sim.requests == []


def test_set_scenario_takes_effect_at_once_and_phases_follow(sim: Simulator) -> None:
    sim.set_scenario(
        Scenario(
            default=ProviderSettings(output_tokens=2),
            phases=[Phase(start_after_requests=2, providers={"openai": ProviderSettings(output_tokens=4)})],
        )
    )
    counts = [
        httpx.post(sim.url + "/v1/chat/completions", json=CHAT).json()["usage"]["completion_tokens"] for _ in range(4)
    ]
    assert counts == [2, 2, 4, 4]


def test_stop_closes_open_streams_and_leaves_no_thread() -> None:
    before = set(threading.enumerate())
    sim = Simulator(scenario=ProviderSettings(per_token_s=1.0)).start()
    port = sim.port
    outcome: list[object] = []

    def consume() -> None:
        try:
            with httpx.stream("POST", sim.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
                outcome.extend(r.iter_raw())
        except httpx.HTTPError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=consume)
    reader.start()
    time.sleep(0.2)
    start = time.perf_counter()
    sim.stop()
    assert time.perf_counter() - start < 2
    reader.join(5)
    assert not reader.is_alive() and isinstance(outcome[-1], httpx.HTTPError)
    assert set(threading.enumerate()) <= before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    sim.stop()  # idempotent


def test_start_twice_is_an_error(sim: Simulator) -> None:
    with pytest.raises(RuntimeError):
        sim.start()
