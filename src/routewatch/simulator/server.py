"""Routing and the `Simulator`: a loopback server, in a background thread with its own event loop,
that answers like OpenAI, Anthropic, Gemini, Cohere and Ollama.

>>> with Simulator() as sim:
...     import urllib.request
...     urllib.request.urlopen(sim.url + "/health").status
200
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

from .call import Call, json_reply
from .content import body_seed, estimate_tokens
from .http import HttpRequest, HttpResponse, HttpServer
from .limits import RateWindow
from .providers import anthropic, cohere, gemini, ollama, openai, openai_responses
from .scenario import PROVIDERS, ProviderSettings, Scenario, ScenarioRuntime

__all__ = ["RecordedRequest", "Simulator"]

logger = logging.getLogger(__name__)

_REDACTED = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"})
_GEMINI_VERSIONS = "v1|v1beta|v1beta1|v1alpha"
_OPENAI = re.compile(r"^(.*?)/v1/(chat/completions|completions|embeddings|responses)$")
_OPENAI_RESPONSE = re.compile(r"^(.*?)/v1/responses/([^/]+)$")
_AZURE = re.compile(r"^(.*?)/openai/deployments/([^/]+)/(chat/completions|completions|embeddings)$")
_ANTHROPIC = re.compile(r"^(.*?)/v1/messages$")
_GEMINI = re.compile(
    rf"^(.*?)/(?:{_GEMINI_VERSIONS})/(?:projects/[^/]+/locations/[^/]+/publishers/google/)?models/([^/:]+):(\w+)$"
)
_COHERE = re.compile(r"^(.*?)/v2/chat$")
_OLLAMA = re.compile(r"^(.*?)/api/(chat|generate)$")
_OPENAI_APIS: dict[str, Callable[[Call, str], HttpResponse]] = {
    "chat/completions": openai.chat_completions,
    "completions": openai.completions,
    "embeddings": openai.embeddings,
    "responses": openai_responses.create,
}


class RecordedRequest(NamedTuple):
    """A request as the simulator saw it: `path` is the request target (query included), header
    names are lower-case and credential values are replaced by "<redacted>"."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True, slots=True)
class _Route:
    provider: str
    method: str
    respond: Callable[[Call], HttpResponse]
    error: Callable[[Call, int], HttpResponse]


def _route(request: HttpRequest, body: dict[str, Any]) -> _Route | None:
    path = request.path
    model = str(body.get("model") or "")
    if match := _OPENAI.match(path):
        api = _OPENAI_APIS[match[2]]
        return _Route("openai", "POST", lambda c: api(c, model), openai.error)
    if match := _OPENAI_RESPONSE.match(path):
        response_id = match[2]
        return _Route("openai", "GET", lambda c: openai_responses.retrieve(c, response_id), openai.error)
    if match := _AZURE.match(path):
        api, deployment = _OPENAI_APIS[match[3]], match[2]
        return _Route("openai", "POST", lambda c: api(c, model or deployment), openai.error)
    if _ANTHROPIC.match(path):
        return _Route("anthropic", "POST", lambda c: anthropic.messages(c, model), anthropic.error)
    if match := _GEMINI.match(path):
        return _gemini_route(match[2], match[3], "alt=sse" in request.query)
    if _COHERE.match(path):
        return _Route("cohere", "POST", lambda c: cohere.chat(c, model), cohere.error)
    if match := _OLLAMA.match(path):
        chat = match[2] == "chat"
        return _Route("ollama", "POST", lambda c: ollama.generate(c, model, chat), ollama.error)
    return None


def _gemini_route(model: str, method: str, sse: bool) -> _Route | None:
    if method in ("generateContent", "streamGenerateContent"):
        stream = method == "streamGenerateContent"
        if stream and not sse:
            return None  # the JSON-array stream form is not simulated
        return _Route("gemini", "POST", lambda c: gemini.generate(c, model, stream), gemini.error)
    if method in ("embedContent", "batchEmbedContents", "predict"):
        return _Route("gemini", "POST", lambda c: gemini.embed(c, model, method), gemini.error)
    if method == "countTokens":
        return _Route("gemini", "POST", gemini.count_tokens, gemini.error)
    return None


class _App:
    """The request handler: route, log, draw the scenario, apply faults, call the responder."""

    def __init__(self, scenario: Scenario, log_size: int) -> None:
        self.runtime = ScenarioRuntime(scenario)
        self.log: deque[RecordedRequest] = deque(maxlen=log_size)
        self.store: dict[str, bytes] = {}
        self.windows = {provider: RateWindow() for provider in PROVIDERS}

    async def handle(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/health":
            return json_reply(200, {"status": "ok"})
        try:
            parsed = json.loads(request.body) if request.body else None
        except ValueError:
            parsed = None
        body = parsed if isinstance(parsed, dict) else {}
        route = _route(request, body)
        if route is None:
            message = f"No simulated endpoint for {request.method} {request.path}"
            return json_reply(404, {"error": {"message": message, "type": "not_found_error", "code": 404}})
        headers = {k: "<redacted>" if k in _REDACTED else v for k, v in request.headers.items()}
        self.log.append(RecordedRequest(request.method, request.target, headers, parsed))
        runtime = self.runtime  # one read: set_scenario may swap it from another thread
        draw = runtime.draw(route.provider, request.path)
        settings = draw.settings
        prompt = settings.input_tokens if settings.input_tokens is not None else estimate_tokens(request.body)
        tokens = prompt + settings.output_tokens
        call = Call(
            provider=route.provider,
            request=request,
            body=body,
            settings=settings,
            fault=draw.fault,
            seq=draw.seq,
            rng=draw.rng,
            seed=body_seed(request.body, runtime.scenario.seed),
            limits=self.windows[route.provider].take(tokens, settings.ratelimit_requests, settings.ratelimit_tokens),
            store=self.store,
        )
        call.delay_s = call.jitter(settings.latency_s)
        if request.method != route.method:
            return route.error(call, 405)
        if parsed is None and request.method == "POST":
            return route.error(call, 400)
        fault = draw.fault
        if fault == "stall":
            await asyncio.sleep(settings.stall_s)
        if fault is not None and fault.startswith("http_"):
            return route.error(call, int(fault[5:]))
        response = route.respond(call)
        if response.stream is None:
            if call.delay_s > 0:
                await asyncio.sleep(call.delay_s)
            if fault == "malformed_body":
                response.body = response.body[: len(response.body) // 2] + b',,"garbage'
            elif fault == "truncate":
                response.cut_body = True
        return response


class Simulator:
    """A loopback provider simulator. `start()` binds and serves in a daemon thread; `stop()` closes
    every connection and joins the thread. Usable as a context manager.

    `scenario` may be a `Scenario` or, as a shorthand, one `ProviderSettings` for every provider.
    `requests` is a snapshot of the last `log_size` requests (oldest first).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: Scenario | ProviderSettings | None = None,
        *,
        log_size: int = 1000,
    ) -> None:
        if log_size < 1:
            raise ValueError("log_size must be >= 1")
        self.host = host
        self._requested_port = port
        self.port = port
        self._app = _App(_as_scenario(scenario), log_size)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def scenario(self) -> Scenario:
        return self._app.runtime.scenario

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self._app.log)

    def clear_requests(self) -> None:
        self._app.log.clear()

    def set_scenario(self, scenario: Scenario | ProviderSettings) -> None:
        """Swap the scenario (thread-safe); its request count and clock start now."""
        self._app.runtime = ScenarioRuntime(_as_scenario(scenario))

    def start(self) -> Simulator:
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        sock = _listen(self.host, self._requested_port)
        self.port = sock.getsockname()[1]
        self.set_scenario(self.scenario)  # phases count from the start
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(sock, ready, failure), name=f"routewatch-simulator-{self.port}", daemon=True
        )
        self._thread.start()
        if not ready.wait(10) or failure:
            self.stop()
            raise RuntimeError("simulator failed to start") from (failure[0] if failure else None)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection and join the server thread (within `timeout` seconds)."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"simulator thread did not stop within {timeout} s")
        self._thread = self._loop = self._stopping = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, sock: socket.socket, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            asyncio.run(self._serve(sock, ready))
        except BaseException as exc:  # reported to start(); nothing else can see it
            failure.append(exc)
            logger.exception("simulator stopped with an error")
        finally:
            sock.close()
            ready.set()

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = HttpServer(self._app.handle, sock)
        await server.start()
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            await server.close()


def _as_scenario(scenario: Scenario | ProviderSettings | None) -> Scenario:
    if scenario is None:
        return Scenario()
    if isinstance(scenario, ProviderSettings):
        return Scenario(default=scenario)
    return scenario


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
