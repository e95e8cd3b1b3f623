"""What G4F endpoints are sent, and how their answers are judged.

G4F honours request-body control fields of its own (``provider``, ``api_key``,
``api_base``, ``web_search``, ``conversation``, ...): a client could make the G4F
server call any URL, or pick a backend past keyrelay's routing. Only OpenAI's
own chat fields reach a G4F endpoint, plus what the operator allows with
``G4F_ALLOWED_FIELDS``; a URL is never let through.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

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
