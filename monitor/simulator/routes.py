"""Routing, authentication and request validation, answering like the real services do.

``route`` is a pure function of (endpoint, request): it returns either the ``Generation`` to
produce or the ``Rejection`` the real service would send (401, 404, 400...), with its body.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from monitor.simulator.behaviour import count_asked, estimate_prompt_tokens
from monitor.simulator.config import EndpointConfig, Flavor
from monitor.simulator.http11 import Request
from monitor.simulator.wire import azure_error_body, openai_error_body

Api = Literal["chat_completions", "responses"]

_DEPLOYMENT_CHAT = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
_DATED_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_V1_VERSIONS = frozenset({"v1", "preview", "latest"})
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    "username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent "
    "was not valid JSON. If you have trouble figuring out how to fix this, please contact us "
    "through our help center at help.openai.com.)"
)
_AZURE_BAD_KEY = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
    "valid key for an active subscription and use a correct regional API endpoint for your "
    "resource."
)
_AZURE_NO_KEY = (
    "Access denied due to missing subscription key. Make sure to include subscription key when "
    "making requests to an API."
)
_AZURE_BAD_TOKEN = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect "
    "(https://cognitiveservices.azure.com), or have expired."
)
_AZURE_NO_DEPLOYMENT = (
    "The API deployment for this resource does not exist. If you created the deployment within "
    "the last 5 minutes, please wait a moment and try again."
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """An error answer decided before any generation starts."""

    status: int
    body: bytes
    error_code: str


@dataclass(frozen=True, slots=True)
class Generation:
    """A well-formed, authorized request for a completion."""

    api: Api
    stream: bool
    include_usage: bool
    max_tokens: int | None
    prompt_tokens: int
    deployment: str | None
    #: N when the last user message asks to count from 1 to N (the answer the simulator then
    #: gives).
    count_to: int | None = None


def mask_key(key: str) -> str:
    """Show a rejected key the way OpenAI does: a prefix, stars and the last four characters."""
    if len(key) <= 12:
        return "*" * len(key)
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def route(
    endpoint: EndpointConfig, api_key: str | None, request: Request, path: str
) -> Generation | Rejection:
    """Decide what a request under ``/{endpoint.id}`` gets; ``path`` is the rest of the path."""
    if endpoint.flavor is Flavor.OPENAI:
        return _route_openai(endpoint, api_key, request, path)
    return _route_azure(endpoint, api_key, request, path)


def _openai_invalid(message: str, *, param: str | None, code: str | None) -> Rejection:
    body = openai_error_body(message, "invalid_request_error", param=param, code=code)
    return Rejection(400, body, code or "invalid_request_error")


def _route_openai(
    endpoint: EndpointConfig, api_key: str | None, request: Request, path: str
) -> Generation | Rejection:
    apis: dict[str, Api] = {
        "/v1/chat/completions": "chat_completions",
        "/v1/responses": "responses",
    }
    api = apis.get(path)
    if api is None or request.method != "POST":
        message = f"Invalid URL ({request.method} /{endpoint.id}{path})"
        body = openai_error_body(message, "invalid_request_error")
        return Rejection(404, body, "invalid_url")
    authorization = request.headers.get("authorization", "")
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        body = openai_error_body(_NO_KEY, "invalid_request_error", status=401)
        return Rejection(401, body, "missing_api_key")
    presented = presented.strip()
    if api_key is not None and presented != api_key:
        message = (
            f"Incorrect API key provided: {mask_key(presented)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        body = openai_error_body(
            message, "invalid_request_error", code="invalid_api_key", status=401
        )
        return Rejection(401, body, "invalid_api_key")
    parsed = _parse_body(request.body)
    if isinstance(parsed, Rejection):
        return parsed
    model = parsed.get("model")
    if not isinstance(model, str) or not model:
        return _openai_invalid("you must provide a model parameter", param=None, code=None)
    generation = _validate(api, parsed)
    if isinstance(generation, Rejection):
        return generation
    if model not in endpoint.model_names():
        message = f"The model `{model}` does not exist or you do not have access to it."
        body = openai_error_body(message, "invalid_request_error", code="model_not_found")
        return Rejection(404, body, "model_not_found")
    return generation


def _route_azure(
    endpoint: EndpointConfig, api_key: str | None, request: Request, path: str
) -> Generation | Rejection:
    version = request.query.get("api-version")
    deployment: str | None = None
    match = _DEPLOYMENT_CHAT.match(path)
    api: Api | None = None
    v1 = False
    if match is not None:
        api, deployment = "chat_completions", match.group(1)
    elif path == "/openai/responses":
        api = "responses"
    elif path in ("/openai/v1/chat/completions", "/openai/v1/responses"):
        api = "chat_completions" if path.endswith("/chat/completions") else "responses"
        v1 = True
    if api is None or request.method != "POST" or (not v1 and version is None):
        body = azure_error_body("404", "Resource not found", space_after_message=True)
        return Rejection(404, body, "404")
    auth = _azure_auth(endpoint, api_key, request)
    if auth is not None:
        return auth
    if v1:
        if version is not None and version not in _V1_VERSIONS:
            return _unsupported_version()
    elif version not in endpoint.api_versions:
        if version is None or not _DATED_VERSION.match(version):
            body = azure_error_body("404", "Resource not found", space_after_message=True)
            return Rejection(404, body, "404")
        return _unsupported_version()
    if deployment is not None and deployment not in endpoint.deployments:
        body = azure_error_body("DeploymentNotFound", _AZURE_NO_DEPLOYMENT)
        return Rejection(404, body, "DeploymentNotFound")
    parsed = _parse_body(request.body)
    if isinstance(parsed, Rejection):
        return parsed
    if deployment is None:
        model = parsed.get("model")
        if not isinstance(model, str) or not model:
            return _openai_invalid("you must provide a model parameter", param=None, code=None)
        if model not in endpoint.deployments:
            body = azure_error_body("DeploymentNotFound", _AZURE_NO_DEPLOYMENT)
            return Rejection(404, body, "DeploymentNotFound")
        deployment = model
    generation = _validate(api, parsed)
    if isinstance(generation, Rejection):
        return generation
    return Generation(
        api=generation.api,
        stream=generation.stream,
        include_usage=generation.include_usage,
        max_tokens=generation.max_tokens,
        prompt_tokens=generation.prompt_tokens,
        deployment=deployment,
        count_to=generation.count_to,
    )


def _unsupported_version() -> Rejection:
    body = azure_error_body("BadRequest", "API version not supported")
    return Rejection(400, body, "BadRequest")


def _azure_auth(
    endpoint: EndpointConfig, api_key: str | None, request: Request
) -> Rejection | None:
    key = request.headers.get("api-key")
    if key is not None:
        if api_key is None or key == api_key:
            return None
        return Rejection(401, azure_error_body("401", _AZURE_BAD_KEY), "401")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        if token.strip() in endpoint.bearer_tokens:
            return None
        return Rejection(401, azure_error_body("401", _AZURE_BAD_TOKEN), "401")
    return Rejection(401, azure_error_body("401", _AZURE_NO_KEY), "401")


def _parse_body(body: bytes) -> dict[str, object] | Rejection:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _openai_invalid(_BAD_JSON, param=None, code=None)
    if not isinstance(parsed, dict):
        return _openai_invalid(_BAD_JSON, param=None, code=None)
    return parsed


def _type_name(value: object) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a decimal"}
    names.update({list: "an array", dict: "an object", type(None): "null"})
    return names.get(type(value), "an unknown type")


def _int_param(body: dict[str, object], name: str, minimum: int) -> int | Rejection | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        message = (
            f"Invalid type for '{name}': expected an integer, but got {_type_name(value)} instead."
        )
        return _openai_invalid(message, param=name, code="invalid_type")
    if value < minimum:
        message = (
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, "
            f"but got {value} instead."
        )
        return _openai_invalid(message, param=name, code="integer_below_min_value")
    return value


def _validate(api: Api, body: dict[str, object]) -> Generation | Rejection:
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        message = (
            f"Invalid type for 'stream': expected a boolean, but got {_type_name(stream)} instead."
        )
        return _openai_invalid(message, param="stream", code="invalid_type")
    texts: list[str] = []
    if api == "chat_completions":
        messages = body.get("messages")
        if messages is None:
            return _openai_invalid(
                "Missing required parameter: 'messages'.",
                param="messages",
                code="missing_required_parameter",
            )
        if not isinstance(messages, list) or not messages:
            message = (
                "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                "but got an empty array instead."
            )
            return _openai_invalid(message, param="messages", code="empty_array")
        texts = [_text_of(message) for message in messages]
        asked = _last_user_text(messages)
        limit = _int_param(body, "max_completion_tokens", 1)
        if isinstance(limit, Rejection):
            return limit
        if limit is None:
            limit = _int_param(body, "max_tokens", 1)
            if isinstance(limit, Rejection):
                return limit
        options = body.get("stream_options")
        include_usage = False
        if options is not None:
            if not stream:
                return _openai_invalid(
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                    param="stream_options",
                    code=None,
                )
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
    else:
        prompt = body.get("input")
        texts = [
            _text_of({"content": prompt}),
            _text_of({"content": body.get("instructions")}),
        ]
        asked = prompt if isinstance(prompt, str) else _last_user_text(prompt)
        limit = _int_param(body, "max_output_tokens", 16)
        if isinstance(limit, Rejection):
            return limit
        include_usage = True
    return Generation(
        api=api,
        stream=stream,
        include_usage=include_usage,
        max_tokens=limit,
        prompt_tokens=estimate_prompt_tokens(texts),
        deployment=None,
        count_to=count_asked(asked),
    )


def _text_of(message: object) -> str:
    """The text of a chat message or Responses input (strings, or lists of text parts)."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            _text_of(part if "content" in part else {"content": part.get("text")})
            for part in content
            if isinstance(part, dict)
        )
    return ""


def _last_user_text(messages: object) -> str:
    """The text of the last ``user`` message of a chat's ``messages`` or a Responses API
    ``input`` list ("" if there is none)."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message)
    return ""
