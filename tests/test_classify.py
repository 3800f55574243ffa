"""Which requests are provider calls, and which provider and flavour they are."""

from __future__ import annotations

import pytest

from routewatch.classify import Route, RouteTable

JSON = {"content-type": "application/json"}
BEARER = {"authorization": "Bearer sk-x", "content-type": "application/json"}


def classify(url_path: str, host: str, *, method: str = "POST", port: int | None = 443, headers=None, table=None):
    table = table or RouteTable()
    return table.classify(method, "https", host, port, url_path, headers if headers is not None else JSON)


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("api.openai.com", "/v1/chat/completions", Route("openai", "openai.chat_completions", "chat")),
        ("api.openai.com", "/v1/completions", Route("openai", "openai.completions", "text_completion")),
        ("api.openai.com", "/v1/embeddings", Route("openai", "openai.embeddings", "embeddings")),
        ("api.openai.com", "/v1/responses", Route("openai", "openai.responses", "chat")),
        ("api.anthropic.com", "/v1/messages", Route("anthropic", "anthropic.messages", "chat")),
        (
            "generativelanguage.googleapis.com",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            Route("gcp.gemini", "gemini.generate_content", "generate_content"),
        ),
        (
            "us-central1-aiplatform.googleapis.com",
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent",
            Route("gcp.vertex_ai", "gemini.generate_content", "generate_content"),
        ),
        (
            "generativelanguage.googleapis.com",
            "/v1beta/models/text-embedding-004:embedContent",
            Route("gcp.gemini", "gemini.embed_content", "embeddings"),
        ),
        (
            "myres.openai.azure.com",
            "/openai/deployments/gpt4/chat/completions",
            Route("azure.ai.openai", "openai.chat_completions", "chat"),
        ),
        ("api.groq.com", "/openai/v1/chat/completions", Route("groq", "openai.chat_completions", "chat")),
        ("api.mistral.ai", "/v1/chat/completions", Route("mistral_ai", "openai.chat_completions", "chat")),
        ("api.mistral.ai", "/v1/fim/completions", Route("mistral_ai", "openai.chat_completions", "text_completion")),
        ("api.mistral.ai", "/v1/agents/completions", Route("mistral_ai", "openai.chat_completions", "chat")),
        ("api.deepseek.com", "/chat/completions", Route("deepseek", "openai.chat_completions", "chat")),
        ("openrouter.ai", "/api/v1/chat/completions", Route("openrouter", "openai.chat_completions", "chat")),
        ("api.x.ai", "/v1/chat/completions", Route("x_ai", "openai.chat_completions", "chat")),
        ("api.cohere.com", "/v2/chat", Route("cohere", "cohere.chat", "chat")),
    ],
)
def test_known_hosts(host: str, path: str, expected: Route) -> None:
    assert classify(path, host) == expected


def test_responses_retrieve_is_a_get_on_a_response_id() -> None:
    route = classify("/v1/responses/resp_123", "api.openai.com", method="GET")
    assert route == Route("openai", "openai.responses", "fetch_response", retrieval=True)


@pytest.mark.parametrize(
    ("host", "path", "method"),
    [
        ("api.openai.com", "/v1/files", "POST"),
        ("api.openai.com", "/v1/models", "GET"),
        ("api.openai.com", "/v1/responses/resp_1/input_items", "GET"),
        ("api.anthropic.com", "/v1/messages/count_tokens", "POST"),
        ("api.anthropic.com", "/v1/messages/batches", "POST"),
        ("api.anthropic.com", "/v1/chat/completions", "POST"),
        ("example.com", "/search", "GET"),
    ],
)
def test_non_generation_requests_pass_through(host: str, path: str, method: str) -> None:
    assert classify(path, host, method=method) is None


def test_unknown_host_needs_a_header_signature() -> None:
    assert classify("/v1/chat/completions", "internal.example", headers=JSON) is None
    route = classify("/v1/chat/completions", "internal.example", headers=BEARER)
    assert route == Route("openai_compatible", "openai.chat_completions", "chat")


def test_unknown_host_anthropic_needs_anthropic_version() -> None:
    assert classify("/v1/messages", "proxy.example", headers=BEARER) is None
    route = classify("/v1/messages", "proxy.example", headers={"anthropic-version": "2023-06-01"})
    assert route is not None and route.provider == "anthropic"


def test_ollama_port_is_recognised() -> None:
    assert classify("/api/chat", "localhost", port=11434).provider == "ollama"
    assert classify("/v1/chat/completions", "localhost", port=11434).provider == "ollama"
    assert classify("/api/chat", "localhost", port=8080) is None


def test_user_mapping_names_the_provider_and_path_names_the_flavour() -> None:
    table = RouteTable({"https://gpu-box:8000/v1": "vllm"})
    route = table.classify("POST", "https", "gpu-box", 8000, "/v1/chat/completions", {})
    assert route == Route("vllm", "openai.chat_completions", "chat")
    assert table.classify("POST", "https", "gpu-box", 8000, "/v1x/chat/completions", {}) is None


def test_longest_mapping_prefix_wins() -> None:
    table = RouteTable({"http://h:1": "outer", "http://h:1/team-a": "inner"})
    assert table.classify("POST", "http", "h", 1, "/team-a/v1/chat/completions", {}).provider == "inner"
    assert table.classify("POST", "http", "h", 1, "/v1/chat/completions", {}).provider == "outer"


def test_bad_mapping_is_rejected() -> None:
    with pytest.raises(ValueError, match="providers must map"):
        RouteTable({"http://x": ""})


@pytest.mark.parametrize(
    ("base_url", "scheme", "host", "port"),
    [
        ("http://[::1]:8000/v1", "http", "::1", 8000),  # httpx gives IPv6 hosts without brackets
        ("http://[FD00::1]:8000/v1/", "http", "fd00::1", 8000),
        ("HTTP://GPU-Box:8000/v1", "http", "gpu-box", 8000),  # scheme and host are case-insensitive
        ("https://llm-gateway.internal:443/v1", "https", "llm-gateway.internal", 443),  # default port spelled out
        ("http://llm-gateway.internal:80/v1", "http", "llm-gateway.internal", 80),
    ],
)
def test_a_mapping_matches_its_host_however_the_base_url_spells_it(base_url, scheme, host, port) -> None:
    table = RouteTable({base_url: "vllm"})
    route = table.classify("POST", scheme, host, port, "/v1/chat/completions", {})
    assert route == Route("vllm", "openai.chat_completions", "chat")
    assert table.classify("POST", scheme, host, port + 1, "/v1/chat/completions", {}) is None


def test_a_mapping_with_an_ipv6_host_names_the_provider_of_real_requests(telemetry) -> None:
    import httpx

    import routewatch

    routewatch.uninstrument()
    routewatch.instrument(tracer_provider=telemetry.tracer_provider, providers={"http://[::1]:8000/v1": "vllm"})
    reply = {"id": "c1", "model": "m", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=reply))
    with httpx.Client(transport=transport) as client:
        client.post("http://[::1]:8000/v1/chat/completions", json={"model": "m", "messages": []})
    attrs = telemetry.only_span().attributes
    assert attrs["gen_ai.provider.name"] == "vllm"
    assert attrs["server.address"] == "::1"
