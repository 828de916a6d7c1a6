"""The simulator: an asyncio HTTP/1.1 server standing in for OpenAI and Azure OpenAI endpoints.

Public API (for tests, the demo and ``llm-monitor simulate``)::

    async with Simulator(config) as sim:
        url = sim.endpoint_url("openai-fast")      # http://127.0.0.1:PORT/openai-fast/v1
        ...
        truth = sim.truth(request_id)              # what was sent, and when
        sim.set_mode("openai-fast", "server_error")

``serve(config)`` runs one until it is cancelled.
"""

from __future__ import annotations

import asyncio
import os
import random
import ssl
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Self

from monitor.simulator.admin import admin_response
from monitor.simulator.behaviour import choose_behaviour, plan_generation
from monitor.simulator.config import Behaviour, EndpointConfig, Flavor, SimulatorConfig
from monitor.simulator.exchange import Connection, Exchange
from monitor.simulator.heads import HeadSpec, RequestIds, azure_head, openai_head, plain_head
from monitor.simulator.http11 import HttpDate, ParseError, Request
from monitor.simulator.routes import Generation, Rejection, route
from monitor.simulator.script import Context, build
from monitor.simulator.truth import RequestTruth, TruthRecord, TruthStore
from monitor.simulator.wire import compact

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class EndpointState:
    """One endpoint at run time: its config, resolved key, random streams and forced mode."""

    def __init__(self, config: EndpointConfig, seed: int | None) -> None:
        self.config = config
        self.azure = config.flavor is Flavor.AZURE
        self.api_key = self._resolve_key(config)
        # Behaviour draws are reproducible with a seed; ids are not part of them.
        self.rng = random.Random(None if seed is None else f"{seed}:{config.id}")
        self._ids = random.Random()
        self.weights = config.faults.weights()
        self.forced: Behaviour | None = None
        #: When set, ``forced`` applies only to requests whose User-Agent contains it (an
        #: agent's name or location: "fails only for location b").
        self.forced_for: str | None = None
        self._pads = [
            "".join(self._ids.choices(_BASE62, k=self._ids.randint(1, 15))) for _ in range(61)
        ]
        self._pad = 0

    @staticmethod
    def _resolve_key(config: EndpointConfig) -> str | None:
        if config.api_key_env is None:
            return config.api_key
        value = os.environ.get(config.api_key_env)
        if not value:
            raise ValueError(
                f"simulator endpoint {config.id!r}: environment variable "
                f"{config.api_key_env} is not set"
            )
        return value

    @property
    def mode(self) -> Behaviour:
        """The behaviour forced on every request (the admin override, else the config's)."""
        return self.forced if self.forced is not None else self.config.mode

    def obfuscation(self) -> str:
        """The next padding string for an ``obfuscation`` field."""
        self._pad = (self._pad + 1) % len(self._pads)
        return self._pads[self._pad]

    def new_ids(self) -> RequestIds:
        """Fresh response ids: ``req_<hex>`` (OpenAI) or two UUIDs (Azure apim / x-request)."""
        if self.azure:
            apim = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
            request = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
            return RequestIds(primary=apim, aliases=(request,))
        return RequestIds(primary=f"req_{self._ids.getrandbits(128):032x}", aliases=())

    def completion_id(self, api: str) -> str:
        """A ``chatcmpl-…`` or ``resp_…`` id."""
        if api == "responses":
            return f"resp_{self._ids.getrandbits(200):050x}"
        return "chatcmpl-" + "".join(self._ids.choices(_BASE62, k=29))

    def message_id(self) -> str:
        """A ``msg_…`` id for Responses API output items."""
        return f"msg_{self._ids.getrandbits(200):050x}"

    def head_factory(
        self, ids: RequestIds, date: str, deployment: str | None
    ) -> Callable[[HeadSpec], bytes]:
        """Build response heads carrying this response's ids."""
        if self.azure:
            region = self.config.region

            def azure(spec: HeadSpec) -> bytes:
                return azure_head(spec, date=date, ids=ids, region=region, deployment=deployment)

            return azure
        ray = f"{self._ids.getrandbits(64):016x}-IAD"

        def openai(spec: HeadSpec) -> bytes:
            return openai_head(spec, date=date, ids=ids, ray=ray)

        return openai


class Simulator:
    """Fake OpenAI / Azure OpenAI endpoints on one local port, with ground truth per request."""

    def __init__(self, config: SimulatorConfig, *, tls: ssl.SSLContext | None = None) -> None:
        """``tls``: serve HTTPS with this server context (tests of certificate checks)."""
        self.config = config
        self._tls = tls
        self._endpoints = {ep.id: EndpointState(ep, config.seed) for ep in config.endpoints}
        self._truth = TruthStore(config.history)
        self._date = HttpDate()
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._started = 0.0
        self._port = 0

    async def start(self) -> None:
        """Listen on the configured host and port (port 0 picks a free one)."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        self._server = await loop.create_server(
            lambda: Connection(self, loop, self._connections),
            host=self.config.host,
            port=self.config.port,
            reuse_address=True,
            backlog=4096,
            ssl=self._tls,
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening, drop every open connection (hanging ones too) and wait."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self._connections):
            if conn.exchange is not None:
                conn.exchange.lost("server_stopped")
                conn.exchange = None
            if conn.transport is not None:
                conn.transport.abort()
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port listened on (after ``start``)."""
        if self._server is None and not self._port:
            raise RuntimeError("simulator not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port`` (``https://`` with TLS) of the running simulator."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    def endpoint_url(self, endpoint_id: str) -> str:
        """The base URL a monitor endpoint should use (``…/id/v1`` for OpenAI, ``…/id`` Azure)."""
        state = self._endpoints[endpoint_id]
        suffix = "" if state.azure else "/v1"
        return f"{self.base_url}/{endpoint_id}{suffix}"

    def truth(self, request_id: str) -> RequestTruth | None:
        """Ground truth of a request by any of its response's request ids."""
        return self._truth.get(request_id)

    def recent(self, limit: int = 100, endpoint_id: str | None = None) -> list[RequestTruth]:
        """The latest requests' ground truth, newest first."""
        return self._truth.recent(limit, endpoint_id)

    def set_mode(
        self, endpoint_id: str, mode: Behaviour | str | None, user_agent: str | None = None
    ) -> None:
        """Force a behaviour on every request of an endpoint (only on those whose User-Agent
        contains ``user_agent``, when given); None returns to the config."""
        state = self._endpoints[endpoint_id]
        state.forced = None if mode is None else Behaviour(mode)
        state.forced_for = user_agent if mode is not None else None

    def forced_for(self, endpoint_id: str) -> str | None:
        """The User-Agent part that the forced mode of an endpoint is limited to, if any."""
        return self._endpoints[endpoint_id].forced_for

    def mode(self, endpoint_id: str) -> Behaviour:
        """The behaviour currently forced on an endpoint (``normal`` lets faults apply)."""
        return self._endpoints[endpoint_id].mode

    @property
    def uptime(self) -> float:
        """Seconds since ``start``."""
        return asyncio.get_running_loop().time() - self._started

    # -- the Handler protocol -------------------------------------------------------------

    def parse_failed(self, conn: Connection, error: ParseError) -> None:
        """Answer an unparseable request with a plain JSON error and close."""
        body = compact({"error": {"message": error.message, "type": "invalid_request_error"}})
        conn.write(plain_head(error.status, len(body), [("Connection", "close")]) + body)
        conn.close()

    def handle(
        self, conn: Connection, request: Request, received_ns: int, received_at: float
    ) -> bool | None:
        """Answer one request, or start the exchange that will."""
        path = request.path
        if path == "/_simulator" or path.startswith("/_simulator/"):
            status, body = admin_response(self, request, conn.peer)
            conn.write(plain_head(status, len(body)) + body)
            return request.keep_alive
        endpoint_id, _, rest = path[1:].partition("/")
        state = self._endpoints.get(endpoint_id)
        if state is None:
            message = f"No simulated endpoint {endpoint_id!r} (path {path!r})"
            body = compact(
                {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "unknown_endpoint",
                    }
                }
            )
            conn.write(plain_head(404, len(body)) + body)
            return request.keep_alive
        decision = route(state.config, state.api_key, request, "/" + rest)
        ids = state.new_ids()
        api = "responses" if rest.endswith("responses") else "chat_completions"
        record = TruthRecord(
            request_id=ids.primary,
            aliases=ids.aliases,
            endpoint=state.config.id,
            flavor=state.config.flavor.value,
            api=api,
            stream=isinstance(decision, Generation) and decision.stream,
            received_ns=received_ns,
        )
        self._truth.add(record)
        date = self._date.now()
        if isinstance(decision, Rejection):
            return self._reject(conn, state, record, decision, ids, date, request.keep_alive)
        self._generate(conn, state, record, decision, ids, date, received_at, request)
        return None

    def _reject(
        self,
        conn: Connection,
        state: EndpointState,
        record: TruthRecord,
        rejection: Rejection,
        ids: RequestIds,
        date: str,
        keep_alive: bool,
    ) -> bool:
        apim_only = state.azure and rejection.error_code in ("401", "404")
        head = state.head_factory(ids, date, None)(
            HeadSpec(
                status=rejection.status,
                body="json",
                length=len(rejection.body),
                apim_only=apim_only,
            )
        )
        sent = conn.write(head + rejection.body)
        record.status = rejection.status
        record.error_code = rejection.error_code
        record.headers_sent_ns = record.done_sent_ns = sent
        record.ending = "complete"
        return keep_alive

    def _generate(
        self,
        conn: Connection,
        state: EndpointState,
        record: TruthRecord,
        generation: Generation,
        ids: RequestIds,
        date: str,
        received_at: float,
        request: Request,
    ) -> None:
        config = state.config
        forced = state.forced
        if state.forced_for is not None and state.forced_for not in request.headers.get(
            "user-agent", ""
        ):
            forced = None
        behaviour = choose_behaviour(
            forced=forced,
            endpoint=config,
            weights=state.weights,
            elapsed=received_at - self._started,
            rng=state.rng,
        )
        plan = plan_generation(
            config,
            behaviour,
            max_tokens=generation.max_tokens,
            rng=state.rng,
            count_to=generation.count_to,
            prompt_tokens=generation.prompt_tokens,
        )
        record.behaviour = behaviour.value
        record.include_usage = generation.include_usage
        record.planned_ttft_seconds = plan.ttft
        record.planned_tokens_per_second = plan.tokens_per_second
        record.planned_output_tokens = plan.output_tokens
        record.reasoning_tokens = plan.reasoning_tokens
        context = Context(
            azure=state.azure,
            endpoint=config,
            generation=generation,
            model=config.model,
            completion_id=state.completion_id(generation.api),
            message_id=state.message_id(),
            created=int(time.time()),
            request_id=ids.primary,
            obfuscation=state.obfuscation if config.uses_obfuscation() else None,
            head=state.head_factory(ids, date, generation.deployment),
            target=request.target,
        )
        script = build(context, plan)
        Exchange(conn, record, script, received_at, request.keep_alive).start()


async def serve(config: SimulatorConfig) -> None:
    """Run a simulator until the calling task is cancelled."""
    async with Simulator(config):
        await asyncio.Event().wait()
