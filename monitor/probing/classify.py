"""Turning HTTP statuses, error bodies and transport failures into outcomes (pure functions)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from monitor.core.outcomes import Outcome

#: Longest error text kept on a result; enough to say what went wrong, never a whole body.
MAX_ERROR_CHARS = 200

# Things that look like credentials in provider messages: OpenAI echoes a masked key
# ("Incorrect API key provided: sk-proj-****abcd"), gateways sometimes echo headers.
_KEYLIKE = re.compile(
    r"(sk-[A-Za-z0-9_*\-]{4,}|Bearer\s+[A-Za-z0-9._~+/=\-]+|eyJ[A-Za-z0-9._\-]{10,}"
    r"|\b[a-f0-9]{32}\b"
    # Whatever the key looks like, a provider's masked echo of it ("gw-abcd****wxyz").
    r"|[\w\-~+/=]*\*{3,}[\w\-~+/=]*)"
)


#: Response headers that name the request, most preferred first; the first one present is the
#: probe's ``provider_request_id``. The provider's own ids come first; a gateway's own id for the
#: call follows, since through a gateway that is the id its logs know (and it may have made
#: several upstream attempts for one call).
#: Left out on purpose: ``cf-ray`` (Cloudflare's id of one hop through its edge, sent in front
#: of OpenAI too, not an id of the request), ``x-ms-client-request-id`` (Azure's echo of an id
#: a client chose) and LiteLLM's ``llm_provider-*`` copies of the upstream's headers.
REQUEST_ID_HEADERS: tuple[str, ...] = (
    "x-request-id",  # OpenAI, Azure OpenAI and most OpenAI-compatible servers
    "apim-request-id",  # Azure OpenAI's API Management front (the only id on its 401)
    "x-ms-request-id",  # other Azure front doors
    "x-litellm-call-id",  # LiteLLM proxy
    "x-portkey-trace-id",  # Portkey
    "helicone-id",  # Helicone
    "cf-aig-log-id",  # Cloudflare AI Gateway (the id of its log entry for the call)
    "x-kong-request-id",  # Kong Gateway
    "x-amzn-requestid",  # AWS API Gateway and Lambda function URLs
)


def request_id(headers: Mapping[str, str]) -> str | None:
    """The request's id from the first of ``REQUEST_ID_HEADERS`` that is present and not
    blank (``headers`` must look names up without regard to case, as httpx's do)."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value and value.strip():
            return value.strip()
    return None


def outcome_for_status(status: int, error_code: str | None = None) -> Outcome:
    """The outcome of a response that is not a 2xx stream (docs/design.md#outcomes)."""
    if status == 429:
        return Outcome.RATE_LIMITED
    if status in (401, 403):
        return Outcome.AUTH_ERROR
    if status == 404 or error_code == "DeploymentNotFound":
        return Outcome.NOT_FOUND
    if status == 408:
        return Outcome.TIMEOUT
    if 400 <= status < 500:
        return Outcome.BAD_REQUEST
    if status >= 500:
        return Outcome.SERVER_ERROR
    # 1xx/3xx: a redirect is never followed (it could carry the key to another host).
    return Outcome.PROTOCOL_ERROR


def parse_error_body(body: bytes) -> tuple[str | None, str | None]:
    """The (code, message) of an OpenAI/Azure-shaped JSON error body, when there is one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    return error_fields(data)


def error_fields(data: object) -> tuple[str | None, str | None]:
    """The (code, message) of ``{"error": {...}}`` (OpenAI, Azure) or a bare error object."""
    if isinstance(data, Mapping) and "error" in data:
        data = data["error"]
    if isinstance(data, str):
        return None, data
    if not isinstance(data, Mapping):
        return None, None
    code = data.get("code") or data.get("type")
    message = data.get("message")
    inner = data.get("innererror")
    if isinstance(inner, Mapping) and isinstance(inner.get("code"), str):
        # Azure puts the precise reason (e.g. ResponsibleAIPolicyViolation) here.
        code = inner["code"]
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else None,
    )


# One "<number><unit>" of a Go duration, as OpenAI writes its waits: "1s", "6m0s", "20ms".
_GO_PART = r"(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)"
_GO_DURATION = re.compile(f"(?:{_GO_PART})+")
_GO_PARTS = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
             "h": 3600.0}  # fmt: skip
# The waits rate-limit messages name: OpenAI's "Please try again in 1.2s." (or "in 20ms",
# "in 6m0s"), Azure's "Please retry after 60 seconds.".
_TRY_AGAIN = re.compile(f"try again in ({_GO_PART}(?:{_GO_PART})*)", re.IGNORECASE)
_RETRY_AFTER_TEXT = re.compile(r"retry after (\d+(?:\.\d+)?) seconds?\b", re.IGNORECASE)


def parse_go_duration(text: str) -> float | None:
    """Seconds of a Go-style duration as OpenAI writes them ("1s", "6m0s", "20ms", "1.5s",
    "1m26.4s"), or None for anything else (a bare number has no unit: None too)."""
    text = text.strip()
    if not _GO_DURATION.fullmatch(text):
        return None
    return sum(float(number) * _GO_UNITS[unit] for number, unit in _GO_PARTS.findall(text))


def _message_wait(message: str) -> float | None:
    found = _TRY_AGAIN.search(message)
    if found:
        return parse_go_duration(found.group(1))
    found = _RETRY_AFTER_TEXT.search(message)
    return float(found.group(1)) if found else None


def _reset_wait(headers: Mapping[str, str]) -> float | None:
    # x-ratelimit-reset-requests / -tokens: when each bucket is full again. The one whose
    # x-ratelimit-remaining-* is 0 is the limit that was hit; unknown which, the longer wait.
    waits: dict[str, float] = {}
    for bucket in ("requests", "tokens"):
        raw = headers.get(f"x-ratelimit-reset-{bucket}")
        wait = parse_go_duration(raw) if raw else None
        if wait is not None:
            waits[bucket] = wait
    spent = [
        wait
        for bucket, wait in waits.items()
        if (headers.get(f"x-ratelimit-remaining-{bucket}") or "").strip() == "0"
    ]
    return max(spent or waits.values(), default=None)


def parse_retry_after(
    headers: Mapping[str, str], now: datetime | None = None, *, message: str | None = None
) -> float | None:
    """Seconds a 429 asks to wait, from the first source that says: ``retry-after-ms``
    (Azure, exact), ``retry-after`` (seconds or an HTTP date), the error ``message`` ("try
    again in 1.2s", "retry after 60 seconds"), then ``x-ratelimit-reset-requests``/``-tokens``
    (OpenAI's time until a bucket is full again, later than needed; a gateway may drop the
    others). None when none of them does."""
    waited = _retry_after_headers(headers, now)
    if waited is None and message:
        waited = _message_wait(message)
    if waited is None:
        waited = _reset_wait(headers)
    return waited


def _retry_after_headers(headers: Mapping[str, str], now: datetime | None) -> float | None:
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            moment = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
        return max(seconds, 0.0)
    return seconds if seconds >= 0 else None


def http_error_text(status: int, code: str | None, message: str | None) -> str:
    """``HTTP <status> <code>: <message>`` for an error answer; a code that only repeats the
    status (gateways and Azure send ``"code": "500"`` with a 500) is left out."""
    text = f"HTTP {status}"
    if code and code.strip() and code.strip() != str(status):
        text += f" {code.strip()}"
    if message and message.strip():
        text += f": {message.strip()}"
    return text


# A segment of "A: B: C" that names an error class or code (no spaces): "litellm.X" or "X".
_NAME = re.compile(r"[\w.\-]+")
# Sentence ends: after . ! or ? and before white space (so "gpt-4.1" and URLs stay whole).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
#: Of an error text cut to MAX_ERROR_CHARS, the share kept from its end.
_TAIL_SHARE = 0.4


def _without_repeated_names(text: str) -> str:
    # LiteLLM prefixes its class to the upstream SDK's, which repeats it:
    # "litellm.InternalServerError: InternalServerError: OpenAIException - ...".
    kept: list[str] = []
    for segment in text.split(": "):
        if kept and _NAME.fullmatch(segment):
            previous = kept[-1]
            if previous == segment or previous.endswith("." + segment):
                continue
        kept.append(segment)
    return ": ".join(kept)


def _without_link_sentences(text: str) -> str:
    # "Visit https://platform.openai.com/account/rate-limits to learn more.", "Please go here:
    # https://aka.ms/oai/quotaincrease if ...": advice with a link, the same on every error.
    # The first sentence holds the status and is always kept.
    first, *rest = _SENTENCE_END.split(text)
    return " ".join([first, *(sentence for sentence in rest if "://" not in sentence)])


def _head_and_tail(text: str, limit: int) -> str:
    # The start names the status and the error; the end of a wrapped upstream message is often
    # the part that says what to do ("Please retry after 60 seconds."): keep both.
    gap = " … "
    tail_size = int(limit * _TAIL_SHARE)
    head_size = limit - tail_size - len(gap)
    head, tail = text[:head_size], text[-tail_size:]
    # Cut at a word boundary when one is near, so that no word is shown half.
    space = head.rfind(" ")
    if space >= head_size - 15:
        head = head[:space]
    space = tail.find(" ")
    if 0 <= space < 15:
        tail = tail[space + 1 :]
    return head.rstrip() + gap + tail.lstrip()


def short_error(text: str, secrets: Iterable[str] = ()) -> str:
    """One line of at most MAX_ERROR_CHARS with every secret and key-like token masked.

    Repeated error names are collapsed; a text still too long first loses its sentences of
    advice with a link, then its middle, keeping the start and the end.
    """
    for secret in secrets:
        if secret:
            # The secret itself, escaped as repr() and bytes reprs show it, and each of its
            # longer pieces (a key with a line break inside is echoed in parts).
            forms = {secret, repr(secret)[1:-1], secret.encode("unicode_escape").decode()}
            forms.update(part for part in secret.split() if len(part) >= 8)
            for form in sorted(forms, key=len, reverse=True):
                text = text.replace(form, "[redacted]")
    text = _KEYLIKE.sub("[redacted]", text)
    text = _without_repeated_names(" ".join(text.split()))
    if len(text) > MAX_ERROR_CHARS:
        text = _without_link_sentences(text)
    if len(text) > MAX_ERROR_CHARS:
        text = _head_and_tail(text, MAX_ERROR_CHARS)
    return text
