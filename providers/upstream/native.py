"""An upstream in the client's own dialect: Anthropic Messages or OpenAI Responses.

The request goes as the client sent it (``routing.native`` patches the model in); the
answer comes back as the upstream sent it. What keyrelay reads of it is only what its
promises need: whether it is an answer at all, where a stream commits, and its usage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from providers.config.catalog import WireDialect
from providers.errors import BadUpstreamResponse

#: Each native dialect's path under the provider's base URL.
PATHS = {WireDialect.MESSAGES: "messages", WireDialect.RESPONSES: "responses"}
#: Anthropic's token count, under the base URL.
COUNT_TOKENS_PATH = "messages/count_tokens"
#: Sent when a Messages client names no version (every Anthropic SDK names one).
ANTHROPIC_VERSION = "2023-06-01"
#: Client headers a native upstream receives as they came (their names lower-cased).
FORWARDED_HEADERS = {
    WireDialect.MESSAGES: ("anthropic-version", "anthropic-beta"),
    WireDialect.RESPONSES: ("openai-beta",),
}
#: The events after which a stream has committed (output has begun, or the answer ended).
_COMMITS = {
    WireDialect.MESSAGES: frozenset(
        {"content_block_start", "content_block_delta", "message_delta", "message_stop"}
    ),
    WireDialect.RESPONSES: frozenset(
        {"response.output_item.added", "response.completed", "response.incomplete"}
    ),
}
#: The events that end a stream's answer.
ENDS = {
    WireDialect.MESSAGES: frozenset({"message_stop"}),
    WireDialect.RESPONSES: frozenset({"response.completed", "response.incomplete"}),
}


def auth_headers(
    dialect: str, key: str, forwarded: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The headers of a native request: the provider key in the dialect's place, and the
    client's version and beta headers (only those: never its own credential)."""
    sent = {
        n: v
        for n in FORWARDED_HEADERS.get(WireDialect(dialect), ())
        if (v := (forwarded or {}).get(n))
    }
    if dialect == WireDialect.MESSAGES:
        sent.setdefault("anthropic-version", ANTHROPIC_VERSION)
        if key:
            sent["x-api-key"] = key
    elif key:
        sent["Authorization"] = f"Bearer {key}"
    return sent


def commits(dialect: str, kind: str) -> bool:
    """True when an event of type ``kind`` carries output (or ends the answer)."""
    return kind in _COMMITS[WireDialect(dialect)] or (
        dialect == WireDialect.RESPONSES and kind.endswith(".delta")
    )


@dataclass(frozen=True)
class NativeAnswer:
    """A whole answer in its dialect: the upstream's bytes, and what they decode to."""

    dialect: str
    raw: bytes
    data: dict[str, Any]

    @property
    def usage(self) -> dict[str, Any] | None:
        """Its usage in chat completions' terms (cache reads and writes included)."""
        return chat_usage(self.dialect, self.data.get("usage"))


def check_answer(dialect: str, data: Mapping[str, Any]) -> None:
    """Raise ``BadUpstreamResponse`` unless ``data`` is a whole answer of ``dialect``."""
    if dialect == WireDialect.MESSAGES:
        if data.get("type") != "message" or not isinstance(data.get("content"), list):
            raise BadUpstreamResponse("the upstream's answer is not a Messages message")
    elif data.get("object") != "response" or not isinstance(data.get("output"), list):
        raise BadUpstreamResponse("the upstream's answer is not a Responses response")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def chat_usage(dialect: str, usage: Any) -> dict[str, Any] | None:
    """A dialect's ``usage`` as chat completions reports it: prompt tokens counting cache
    reads and writes, the cached share in ``prompt_tokens_details.cached_tokens``."""
    if not isinstance(usage, Mapping):
        return None
    if dialect == WireDialect.MESSAGES:
        read = _count(usage.get("cache_read_input_tokens"))
        written = _count(usage.get("cache_creation_input_tokens"))
        prompt = _count(usage.get("input_tokens")) + read + written
    else:
        details = usage.get("input_tokens_details")
        read = _count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
        written, prompt = 0, _count(usage.get("input_tokens"))
    completion = _count(usage.get("output_tokens"))
    if not prompt and not completion:
        return None
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": read},
        "cache_creation_tokens": written,
    }


def stream_usage(dialect: str, kind: str, data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The usage an event carries, in its dialect's terms, if it carries any."""
    if dialect == WireDialect.MESSAGES:
        if kind == "message_start" and isinstance(data.get("message"), Mapping):
            usage = data["message"].get("usage")
        else:
            usage = data.get("usage") if kind == "message_delta" else None
    else:
        response = data.get("response") if kind in ENDS[WireDialect.RESPONSES] else None
        usage = response.get("usage") if isinstance(response, Mapping) else None
    return usage if isinstance(usage, Mapping) else None
