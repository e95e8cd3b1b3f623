"""What each candidate is sent, and whether its answer came from the model asked for.

G4F honours request-body control fields of its own (``provider``, ``api_key``,
``api_base``, ``web_search``, ``conversation``, ...): a client could make the G4F
server call any URL, or pick a backend past keyrelay's routing. Only OpenAI's
own chat fields reach a G4F endpoint, plus what the operator allows with
``G4F_ALLOWED_FIELDS``; a URL is never let through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from providers.config.catalog import G4F
from providers.config.catalog import OptionalField as OptionalField
from providers.config.shape import RoutingConfig
from providers.errors import ModelSwapped
from providers.upstream.http import Timeout

from .resolve import Candidate

#: A reasoning-effort hint from a translated dialect (Anthropic ``thinking``, Responses
#: ``reasoning.effort``): sent as ``reasoning_effort`` only to a provider known to take it.
REASONING_HINT = "keyrelay_reasoning_effort"
#: Prompt-cache breakpoints from a translated Messages request (its blocks' ``cache_control``),
#: as {message index: cache_control}: set on those messages only for a provider that takes
#: them (OpenRouter, for the models that cache), dropped elsewhere.
CACHE_HINT = "keyrelay_cache_control"
#: Optional OpenAI fields from a translated dialect (Responses ``prompt_cache_key``,
#: ``text.verbosity``), as a dict: each is sent only to a provider that declares it.
OPTIONAL_HINT = "keyrelay_optional_fields"


def body_for(
    payload: Mapping[str, Any], candidate: Candidate, config: RoutingConfig
) -> dict[str, Any]:
    """The client's body for this candidate: its model id, and for G4F no control fields."""
    if candidate.provider.config.family == G4F:
        body = g4f_body(payload, config.g4f_allowed_fields)
    else:
        body = dict(payload)
    hint = body.pop(REASONING_HINT, None)
    if isinstance(hint, str) and candidate.provider.config.reasoning_effort:
        body.setdefault("reasoning_effort", hint)
    optional = body.pop(OPTIONAL_HINT, None)
    if isinstance(optional, dict):
        taken = candidate.provider.config.optional_fields
        body.update({k: v for k, v in optional.items() if k in taken and k not in body})
    body["model"] = candidate.model
    marks = body.pop(CACHE_HINT, None)
    if isinstance(marks, dict) and candidate.provider.config.cache_control:
        body["messages"] = with_cache_marks(body.get("messages"), marks)
    if not candidate.provider.config.system_anywhere and "messages" in body:
        body["messages"] = leading_system(body["messages"])
    if body.get("stream") and candidate.provider.config.stream_usage:
        # For usage accounting; the usage chunk is dropped when the client did not ask.
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return body


def with_cache_marks(messages: Any, marks: Mapping[int, Any]) -> Any:
    """``messages`` (a copy) with a ``cache_control`` on the last part of each marked one."""
    if not isinstance(messages, list):
        return messages
    marked = list(messages)
    for index, mark in marks.items():
        message = marked[index] if 0 <= index < len(marked) else None
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str) and content:
            parts = [{"type": "text", "text": content, "cache_control": mark}]
        elif isinstance(content, list) and content and isinstance(content[-1], dict):
            parts = [*content[:-1], {**content[-1], "cache_control": mark}]
        else:
            continue
        marked[index] = {**message, "content": parts}
    return marked


def leading_system(messages: Any) -> Any:
    """``messages`` with every system message merged into one leading message, in order, for
    a provider that takes only one (unchanged when they already lead)."""
    if not isinstance(messages, list):
        return messages
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    leading = next((i for i, role in enumerate(roles) if role != "system"), len(roles))
    if "system" not in roles[leading:] and leading <= 1:
        return messages
    texts = [
        m["content"]
        for m, role in zip(messages, roles, strict=True)
        if role == "system" and isinstance(m.get("content"), str) and m["content"]
    ]
    rest = [m for m, role in zip(messages, roles, strict=True) if role != "system"]
    return [{"role": "system", "content": "\n\n".join(texts)}, *rest] if texts else rest


def ask_chat(
    payload: Mapping[str, Any], config: RoutingConfig
) -> Callable[[Candidate, str, Timeout], dict[str, Any]]:
    """The walk's call for a whole chat completion: this candidate's body, its answer."""

    def call(candidate: Candidate, secret: str, timeout: Timeout) -> dict[str, Any]:
        answer = candidate.provider.upstream.chat(body_for(payload, candidate, config), secret,
                                                  timeout)  # fmt: skip
        check_model(candidate, answer.get("model"), config)
        return answer

    return call


def check_model(candidate: Candidate, served: object, config: RoutingConfig) -> None:
    """With G4F_STRICT_MODEL, an answer from another model fails the attempt."""
    if (
        config.g4f_strict_model
        and candidate.provider.config.family == G4F
        and isinstance(served, str)
        and not same_model(candidate.model, served)
    ):
        shown = "".join(c for c in served[:128] if c.isprintable())
        raise ModelSwapped(f"asked for '{candidate.model}', answered by '{shown}'")


#: The body fields of OpenAI's chat completions API.
OPENAI_CHAT_FIELDS = frozenset(
    {
        "model", "messages", "stream", "stream_options", "temperature", "top_p", "n", "stop",
        "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty",
        "logit_bias", "logprobs", "top_logprobs", "user", "seed", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "reasoning_effort", "modalities", "audio",
        "metadata", "store", "service_tier", "prediction", "web_search_options", "verbosity",
        "functions", "function_call", "safety_identifier", "prompt_cache_key",
    }
)  # fmt: skip
#: G4F fields that name a URL: never forwarded, whatever G4F_ALLOWED_FIELDS says.
URL_FIELDS = frozenset({"api_base", "base_url", "proxy"})
_URL_LIKE = re.compile(r"://|^[\w.-]+:\d+|^/|\\")


def g4f_body(payload: Mapping[str, Any], allowed: Collection[str] = ()) -> dict[str, Any]:
    """``payload`` without G4F's control fields (those in ``allowed`` kept, but no URL)."""
    body = {
        k: v
        for k, v in payload.items()
        if k in OPENAI_CHAT_FIELDS or (k in allowed and k not in URL_FIELDS)
    }
    provider = body.get("provider")
    if provider is not None and (not isinstance(provider, str) or _URL_LIKE.search(provider)):
        del body["provider"]  # a backend's name may pass; a URL may not
    return body


_VERSION_SUFFIX = re.compile(r"^-(?:\d[\d.-]*|latest|preview)$")


def same_model(asked: str, served: str) -> bool:
    """True when ``served`` is the model asked for, or a dated or versioned name of it."""
    a = asked.lower().rsplit("/", 1)[-1]
    s = served.lower().rsplit("/", 1)[-1]
    if a == s:
        return True
    longer, shorter = (s, a) if len(s) > len(a) else (a, s)
    return longer.startswith(shorter) and bool(_VERSION_SUFFIX.match(longer[len(shorter) :]))
