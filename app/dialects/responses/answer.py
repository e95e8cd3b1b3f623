"""Chat completions answers in OpenAI Responses terms: the ``response`` object and its items.

The upstream's reasoning (``reasoning_content``) becomes a ``reasoning`` item with a
summary; text a ``message`` item; tool calls ``function_call`` items.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from app.dialects.base import reasoning_of
from app.dialects.responses.calls import call_item
from app.dialects.responses.items import compaction_content
from app.dialects.responses.request import ResponsesTurn
from app.dialects.streaming import whole_number

#: Finish reasons that cut an answer short, and how Responses names the cut.
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    """An item or response id: ``prefix_`` and 24 hex digits."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def usage_of(usage: Any) -> dict[str, Any]:
    """Responses usage from an OpenAI chat ``usage`` object (zeros when there was none)."""
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = (
        whole_number(usage.get("prompt_tokens")),
        whole_number(usage.get("completion_tokens")),
    )
    cached = whole_number((usage.get("prompt_tokens_details") or {}).get("cached_tokens"))
    reasoning = whole_number((usage.get("completion_tokens_details") or {}).get("reasoning_tokens"))
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": whole_number(usage.get("total_tokens")) or prompt + completion,
    }


def envelope(request: dict[str, Any], model: str, response_id: str) -> dict[str, Any]:
    """The ``response`` object before any output: the request's settings echoed."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": model,
        "output": [],
        "usage": None,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "metadata": request.get("metadata") or {},
        "parallel_tool_calls": request.get("parallel_tool_calls", True) is not False,
        "previous_response_id": None,
        "reasoning": request.get("reasoning"),
        "store": False,
        "temperature": request.get("temperature"),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p"),
        "truncation": "disabled",
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    """An assistant ``message`` output item with one ``output_text`` part."""
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content if status == "completed" else [],
    }


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    """A ``reasoning`` output item whose summary is the upstream's reasoning text."""
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"id": item_id, "type": "reasoning", "summary": summary}


def compaction_item(item_id: str, summary: str) -> dict[str, Any]:
    """A ``compaction`` output item holding the upstream's summary of the session."""
    return {"id": item_id, "type": "compaction", "encrypted_content": compaction_content(summary)}


def finished(response: dict[str, Any], finish: Any, usage: Any) -> dict[str, Any]:
    """``response`` completed, or incomplete when the upstream cut the answer short."""
    cut = INCOMPLETE.get(str(finish))
    return {
        **response,
        "status": "incomplete" if cut else "completed",
        "incomplete_details": {"reason": cut} if cut else None,
        "usage": usage_of(usage),
        "completed_at": int(time.time()),
    }


def to_response(completion: dict[str, Any], turn: ResponsesTurn, model: str) -> dict[str, Any]:
    """A whole chat completion as a ``response``."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    text = message["content"] if isinstance(message.get("content"), str) else ""
    output: list[dict[str, Any]] = []
    if turn.compaction:
        output.append(compaction_item(new_id("cmp"), text))
    else:
        output += _items(message, text, turn)
    response = {**envelope(turn.request, model, new_id("resp")), "output": output}
    return finished(response, choice.get("finish_reason"), completion.get("usage"))


def _items(message: dict[str, Any], text: str, turn: ResponsesTurn) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    if reasoning_of(message):
        output.append(reasoning_item(new_id("rs"), reasoning_of(message)))
    if text:
        output.append(message_item(new_id("msg"), text))
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        given = call.get("function")
        function: dict[str, Any] = given if isinstance(given, dict) else {}
        ref = turn.tools.ref(str(function.get("name") or ""))
        call_id = str(call.get("id") or new_id("call"))
        item_id = new_id("ctc" if ref.kind == "custom" else "fc")
        output.append(call_item(item_id, call_id, ref, str(function.get("arguments") or "")))
    return output
