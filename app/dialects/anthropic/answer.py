"""Chat completions answers in Anthropic Messages terms: a whole ``message``.

Stop reasons are mapped truthfully (``length`` is ``max_tokens``, never ``end_turn``);
the stream's events (``events.py``) use the same ids, stops and usage.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from app.dialects.base import reasoning_of
from app.dialects.streaming import whole_number

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_UNSAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")


def tool_use_id(raw: Any) -> str:
    """A tool call id Anthropic clients accept (``^[a-zA-Z0-9_-]{1,64}$``)."""
    cleaned = _UNSAFE_ID.sub("_", raw if isinstance(raw, str) else "")[:64]
    return cleaned or f"toolu_{uuid.uuid4().hex[:24]}"


def message_id(raw: Any) -> str:
    """``msg_`` and the upstream's id (made safe), or a new one."""
    cleaned = _UNSAFE_ID.sub("_", raw if isinstance(raw, str) else "")[:56]
    return f"msg_{cleaned or uuid.uuid4().hex[:24]}"


def stop_of(finish: Any, choice: dict[str, Any], stops: list[str], tools: bool) -> tuple[str, Any]:
    """(stop_reason, stop_sequence) for an upstream finish reason."""
    matched = choice.get("stop_reason", choice.get("matched_stop"))
    if finish == "stop" and isinstance(matched, str) and matched in stops:
        return "stop_sequence", matched
    if tools and finish in (None, "stop"):
        return "tool_use", None
    return STOP_REASONS.get(str(finish), "end_turn"), None


def usage_of(usage: Any) -> dict[str, int]:
    """Anthropic usage from an OpenAI ``usage`` object (zeros when the upstream sent none)."""
    usage = usage if isinstance(usage, dict) else {}
    prompt = whole_number(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = (
        min(whole_number(details.get("cached_tokens")), prompt) if isinstance(details, dict) else 0
    )
    # Anthropic's input_tokens leave out what was read from the cache.
    mapped = {"input_tokens": prompt - cached,
              "output_tokens": whole_number(usage.get("completion_tokens"))}  # fmt: skip
    if cached:
        mapped["cache_read_input_tokens"] = cached
    return mapped


def _arguments(raw: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except ValueError:
        return {"arguments": raw}  # not JSON: kept whole rather than lost
    return parsed if isinstance(parsed, dict) else {"arguments": parsed}


def to_message(
    completion: dict[str, Any], model: str, stops: list[str], thinking: bool
) -> dict[str, Any]:
    """A whole chat completion as an Anthropic ``message``."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if thinking and reasoning_of(message):
        content.append({"type": "thinking", "thinking": reasoning_of(message), "signature": ""})
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"]})
    calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    for call in calls:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": tool_use_id(call.get("id")),
                "name": str(function.get("name") or ""),
                "input": _arguments(function.get("arguments")),
            }
        )
    reason, sequence = stop_of(choice.get("finish_reason"), choice, stops, bool(calls))
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_of(completion.get("usage")),
    }
