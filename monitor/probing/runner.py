"""Run one probe: send a streaming request, stamp the bytes, and return a ``ProbeResult``.

Every failure becomes an outcome on the result; nothing escapes but cancellation. The runner
never touches storage or metrics: those are sinks of the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from time import perf_counter_ns
from typing import cast

import httpx

from monitor.config import Endpoint
from monitor.core.agent import AgentIdentity
from monitor.core.answer import check_answer
from monitor.core.kinds import corrected_filler, filler_tokens, fixed_tokens, sized_prompt
from monitor.core.measure import estimate_tokens, inter_token_latency, output_speed, probe_cost
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.probing.classify import (
    http_error_text,
    outcome_for_status,
    parse_error_body,
    parse_retry_after,
    request_id,
    short_error,
)
from monitor.probing.credentials import Credentials
from monitor.probing.interpret import (
    ChatCompletionsInterpreter,
    ResponsesInterpreter,
    StreamInterpreter,
    StreamState,
)
from monitor.probing.providers import PROVIDERS, probe_prompt
from monitor.probing.sse import SSEDecoder, SSEProtocolError
from monitor.probing.transport import StampingTransport, WireTiming, wire_timing

#: Most bytes of an error body read to learn its code and message.
MAX_ERROR_BODY_BYTES = 64 * 1024
_NS = 1_000_000_000


class ClientPool:
    """One ``httpx.AsyncClient`` per distinct TLS setting, shared by the endpoints using it."""

    def __init__(self) -> None:
        self._clients: dict[tuple[bool, str | None], httpx.AsyncClient] = {}

    def client_for(self, endpoint: Endpoint) -> httpx.AsyncClient:
        """The client whose TLS settings match the endpoint's."""
        ca = str(endpoint.probe.ca_bundle) if endpoint.probe.ca_bundle else None
        key = (endpoint.probe.verify_tls, ca)
        client = self._clients.get(key)
        if client is None:
            verify: ssl.SSLContext | bool = endpoint.probe.verify_tls
            if endpoint.probe.verify_tls:
                # Built once per setting: loading CA certificates costs tens of milliseconds.
                verify = ssl.create_default_context(cafile=ca)
            client = httpx.AsyncClient(
                transport=StampingTransport(verify=verify),
                follow_redirects=False,
                trust_env=False,
            )
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        """Close every client."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


@dataclass(slots=True)
class _Response:
    status: int | None = None
    request_id: str | None = None
    retry_after: float | None = None
    headers_ns: int | None = None


class ProbeRunner:
    """Probes endpoints; safe to use for many concurrent probes on one event loop."""

    def __init__(
        self,
        clients: ClientPool | None = None,
        credentials: Credentials | None = None,
        *,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_line_bytes: int = 1 << 20,
        max_event_bytes: int = 4 << 20,
        observer: Callable[[ProbeResult, WireTiming, StreamState], None] | None = None,
        agent: AgentIdentity | None = None,
    ) -> None:
        #: Who probes, from where: on every result and in every request's User-Agent.
        self.agent = agent or AgentIdentity.local()
        self._user_agent = self.agent.user_agent
        self._clients = clients or ClientPool()
        self._credentials = credentials or Credentials()
        self._wall_clock = wall_clock
        self._max_line_bytes = max_line_bytes
        self._max_event_bytes = max_event_bytes
        # Sees each probe's raw monotonic stamps (benchmarks compare them with another
        # process's clock); must be cheap, it runs on the measuring loop.
        self._observer = observer
        #: Each kind's prompt (by probe target key): its filler size and its text, made once
        #: (a 10,000-token filler takes milliseconds) and again when a provider's count of it
        #: corrects the size.
        self._sized: dict[str, tuple[int, str]] = {}

    async def aclose(self) -> None:
        """Release connections."""
        await self._clients.aclose()

    async def probe(self, endpoint: Endpoint) -> ProbeResult:
        """Probe ``endpoint`` once and return what was measured (a kind of it, with its prompt
        sized to ``input_tokens``, when ``endpoint.kind`` is not the default)."""
        target = endpoint
        if endpoint.input_tokens is not None:
            prompt = self._kind_prompt(endpoint)
            endpoint = replace(endpoint, probe=replace(endpoint.probe, prompt=prompt))
        result = await self._probe(endpoint)
        if target.input_tokens is not None:
            self._correct(target, result)
        return result

    def _kind_prompt(self, target: Endpoint) -> str:
        assert target.input_tokens is not None
        question = target.probe.prompt
        fill, text = self._sized.get(target.key) or (-1, "")
        if fill < 0:
            fill = filler_tokens(question, target.input_tokens)
            text = sized_prompt(question, fill)
            self._sized[target.key] = (fill, text)
        return text

    def _correct(self, target: Endpoint, result: ProbeResult) -> None:
        """Size the kind's next prompts from the provider's count of this one."""
        assert target.input_tokens is not None
        measured = result.input_tokens
        sized = self._sized.get(target.key)
        if measured is None or sized is None:
            return
        fill = sized[0]
        fixed = fixed_tokens(target.probe.prompt)
        wanted = corrected_filler(fill, fixed=fixed, target=target.input_tokens, measured=measured)
        # Within half a percent is close enough: the text is made again only when it matters.
        if abs(wanted - fill) > max(1, target.input_tokens // 200):
            self._sized[target.key] = (wanted, sized_prompt(target.probe.prompt, wanted))

    async def _probe(self, endpoint: Endpoint) -> ProbeResult:
        probe_id = uuid.uuid4().hex
        settings = endpoint.probe
        called_wall = self._wall_clock()
        called_ns = perf_counter_ns()
        secrets: list[str] = []
        interpreter: StreamInterpreter = (
            ResponsesInterpreter() if endpoint.api == "responses" else ChatCompletionsInterpreter()
        )
        response = _Response()
        outcome: Outcome
        error: str | None
        with wire_timing() as timing:
            try:
                credential = await self._credentials.credential(endpoint)
            except Exception as exc:  # any failure to get a token is our side's auth problem
                credential = None
                outcome, error = Outcome.AUTH_ERROR, f"no credential: {type(exc).__name__}: {exc}"
            else:
                if credential:
                    secrets.append(credential)
                try:
                    async with asyncio.timeout(settings.timeout):
                        outcome, error = await self._exchange(
                            endpoint, probe_id, credential, timing, interpreter, response
                        )
                except TimeoutError:
                    outcome, error = (
                        Outcome.TIMEOUT,
                        (f"no complete answer within the probe timeout of {settings.timeout:g}s"),
                    )
                except Exception as exc:  # a failure nobody foresaw must not stop the monitor
                    outcome = Outcome.PROTOCOL_ERROR
                    error = f"unexpected {type(exc).__name__}: {exc}"
        result = self._result(
            endpoint,
            probe_id,
            called_wall,
            called_ns,
            timing,
            interpreter,
            response,
            outcome,
            short_error(error, secrets) if error else None,
        )
        if self._observer is not None:
            self._observer(result, timing, interpreter.state)
        return result

    async def _exchange(
        self,
        endpoint: Endpoint,
        probe_id: str,
        credential: str | None,
        timing: WireTiming,
        interpreter: StreamInterpreter,
        response: _Response,
    ) -> tuple[Outcome, str | None]:
        settings = endpoint.probe
        request = PROVIDERS[endpoint.provider].build_request(
            endpoint,
            prompt=probe_prompt(endpoint, probe_id),
            probe_id=probe_id,
            credential=credential,
        )
        request.headers["user-agent"] = self._user_agent
        client = self._clients.client_for(endpoint)
        timeout = httpx.Timeout(
            settings.timeout, connect=settings.connect_timeout, pool=settings.timeout
        )
        try:
            async with client.stream(
                "POST", request.url, headers=request.headers, content=request.body, timeout=timeout
            ) as http:
                response.headers_ns = timing.last_read_ns
                response.status = http.status_code
                response.request_id = request_id(http.headers)
                if not 200 <= http.status_code < 300:
                    return await self._error_response(http, response)
                content_type = http.headers.get("content-type", "")
                if not content_type.lower().startswith("text/event-stream"):
                    return Outcome.PROTOCOL_ERROR, (
                        f"HTTP {http.status_code} with content-type {content_type or 'none'!r},"
                        " not text/event-stream"
                    )
                await self._read_stream(http, timing, interpreter)
        except httpx.TimeoutException as exc:
            return Outcome.TIMEOUT, _transport_error(exc, response)
        except (httpx.ConnectError, httpx.ProxyError, httpx.UnsupportedProtocol) as exc:
            return Outcome.CONNECT_ERROR, _transport_error(exc, response)
        except httpx.TransportError as exc:
            # Reset, closed or malformed before a status line: the connection failed; after
            # the headers: the stream broke.
            if response.status is None:
                return Outcome.CONNECT_ERROR, _transport_error(exc, response)
            interpreter.state.fail(Outcome.STREAM_ERROR, _transport_error(exc, response))
        except SSEProtocolError as exc:
            interpreter.state.fail(Outcome.PROTOCOL_ERROR, str(exc))
        outcome, error = interpreter.state.end_outcome()
        if outcome is Outcome.SUCCESS:
            state = interpreter.state
            wrong = check_answer(
                state.text, state.finish_reason, prompt=settings.prompt, expect=settings.expect
            )
            if wrong is not None:
                return Outcome.WRONG_ANSWER, wrong
        return outcome, error

    async def _read_stream(
        self, http: httpx.Response, timing: WireTiming, interpreter: StreamInterpreter
    ) -> None:
        decoder = SSEDecoder(
            max_line_bytes=self._max_line_bytes, max_event_bytes=self._max_event_bytes
        )
        state = interpreter.state
        encoded = http.headers.get("content-encoding", "identity").lower() != "identity"
        # Closed here, not left to the garbage collector: the probe stops at [DONE], before the
        # body ends, and an abandoned async generator costs the loop a finalizer task (one
        # still pending when the loop closes at shutdown is an error).
        async with contextlib.aclosing(
            _generator(http.aiter_bytes() if encoded else http.aiter_raw())
        ) as chunks:
            async for chunk in chunks:
                # The stamp of the socket read that delivered these bytes, before any parsing.
                arrived = timing.last_read_ns or perf_counter_ns()
                for event in decoder.feed(chunk):
                    interpreter.feed(event, arrived)
                    if state.finished:
                        return
        # The body ended: what the decoder still holds is an event without its blank line.
        for event in decoder.close():
            interpreter.feed(event, timing.last_read_ns or perf_counter_ns(), unterminated=True)
            if state.finished:
                return

    async def _error_response(
        self, http: httpx.Response, response: _Response
    ) -> tuple[Outcome, str | None]:
        body = bytearray()
        async with contextlib.aclosing(_generator(http.aiter_bytes())) as chunks:
            async for chunk in chunks:
                body += chunk
                if len(body) >= MAX_ERROR_BODY_BYTES:
                    break
        code, message = parse_error_body(bytes(body[:MAX_ERROR_BODY_BYTES]))
        outcome = outcome_for_status(http.status_code, code)
        if outcome is Outcome.RATE_LIMITED:
            response.retry_after = parse_retry_after(http.headers, message=message)
        if 300 <= http.status_code < 400:
            where = http.headers.get("location", "?")
            return outcome, f"HTTP {http.status_code} redirect to {where} (not followed)"
        return outcome, http_error_text(http.status_code, code, message)

    def _result(
        self,
        endpoint: Endpoint,
        probe_id: str,
        called_wall: datetime,
        called_ns: int,
        timing: WireTiming,
        interpreter: StreamInterpreter,
        response: _Response,
        outcome: Outcome,
        error: str | None,
    ) -> ProbeResult:
        state = interpreter.state
        start_ns = timing.request_started_ns
        started_at = called_wall
        if start_ns is not None:
            started_at = called_wall + timedelta(microseconds=(start_ns - called_ns) / 1000)

        def since_start(at_ns: int | None) -> float | None:
            if start_ns is None or at_ns is None:
                return None
            return (at_ns - start_ns) / _NS

        tokens_estimated = False
        output_tokens = state.output_tokens
        visible_tokens: float | None = output_tokens
        if output_tokens is not None and state.reasoning_tokens and state.reasoning_chunks == 0:
            # Hidden reasoning is counted in completion_tokens but never streamed: the chunks
            # we timed carried only the visible part.
            visible_tokens = max(output_tokens - state.reasoning_tokens, 0)
        if output_tokens is None and state.content_chunks:
            output_tokens = estimate_tokens(state.text) or state.content_chunks
            visible_tokens = output_tokens
            tokens_estimated = True
        # End to end: to [DONE] or the last event; an error answer ends with its last byte;
        # after a timeout or a failed connection the end is unknown.
        end_ns = state.last_event_ns or timing.last_read_ns
        if outcome in (Outcome.TIMEOUT, Outcome.CONNECT_ERROR):
            end_ns = None
        return ProbeResult(
            probe_id=probe_id,
            endpoint=endpoint.id,
            provider=endpoint.provider,
            model=endpoint.model.id,
            api=endpoint.api,
            region=endpoint.region,
            outcome=outcome,
            started_at=started_at,
            http_status=response.status,
            ttft_seconds=since_start(state.first_content_ns),
            total_seconds=since_start(end_ns),
            first_byte_seconds=since_start(response.headers_ns),
            output_tokens=output_tokens,
            input_tokens=state.input_tokens,
            reasoning_tokens=state.reasoning_tokens,
            cached_input_tokens=state.cached_input_tokens,
            tokens_estimated=tokens_estimated,
            output_tokens_per_second=output_speed(
                visible_tokens,
                state.content_chunks,
                state.first_content_ns,
                state.last_content_ns,
                state.first_read_chunks,
            ),
            inter_token_latency_seconds=inter_token_latency(
                visible_tokens,
                state.content_chunks,
                state.first_content_ns,
                state.last_content_ns,
                state.first_read_chunks,
            ),
            content_chunks=state.content_chunks,
            connect_seconds=timing.connect_seconds if start_ns is not None else None,
            connection_reused=timing.connection_reused if start_ns is not None else None,
            finish_reason=state.finish_reason,
            response_model=state.response_model,
            provider_request_id=response.request_id,
            retry_after_seconds=response.retry_after,
            cost_usd=probe_cost(
                endpoint.model.pricing,
                state.input_tokens,
                state.output_tokens,
                state.cached_input_tokens,
            ),
            error=error,
            # Evaluated last, so that it covers the making of the result too.
            duration_seconds=(perf_counter_ns() - called_ns) / _NS,
            agent=self.agent.name,
            location=self.agent.location,
            answer_ttft_seconds=since_start(state.first_answer_ns),
            kind=endpoint.kind,
            stamp_source=timing.stamp_source,
            first_token_queued=state.first_read_chunks > 1 if state.content_chunks else None,
        )


def _generator(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    # httpx types its body iterators loosely; they are async generators, which can be closed.
    return cast(AsyncGenerator[bytes, None], chunks)


def _transport_error(exc: Exception, response: _Response) -> str:
    phase = "before a response" if response.status is None else "during the stream"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__} {phase}: {text}"
