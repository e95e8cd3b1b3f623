"""What a native Anthropic Messages or OpenAI Responses upstream sends, byte for byte.

The event sequences are the providers' own (``../shared/reference/inbound-protocols.md``):
``event: <type>`` then ``data: <json carrying the same type>``, and no ``[DONE]``.
``FakeUpstream`` answers ``/messages`` and ``/responses`` with these by default.
"""

from __future__ import annotations

import json
from typing import Any

#: The usage the fakes report, with cache reads and writes (Anthropic's fields).
MESSAGES_USAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 2000,
    "output_tokens": 9,
}
RESPONSES_USAGE = {
    "input_tokens": 2100,
    "input_tokens_details": {"cached_tokens": 2000},
    "output_tokens": 9,
    "output_tokens_details": {"reasoning_tokens": 4},
    "total_tokens": 2109,
}


#: What the fake Anthropic upstream counts for any request (``/messages/count_tokens``).
COUNTED = 4321


def sse(kind: str, data: dict[str, Any]) -> bytes:
    """One event as the providers frame it."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def message(model: str, text: str = "Hello from Anthropic.") -> dict[str, Any]:
    """A whole Messages answer, with a thinking block and its signature."""
    return {
        "id": "msg_01FakeNative",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [
            {"type": "thinking", "thinking": "Let me answer.", "signature": "EqQBCgIYAhIM-sig"},
            {"type": "text", "text": text},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": MESSAGES_USAGE,
    }


def message_events(model: str, words: list[str], *, thinking: bool = True) -> list[bytes]:
    """A streamed Messages answer: thinking with its signature (unless not ``thinking``),
    then a text block of ``words``."""
    start = {**message(model), "content": [], "stop_reason": None,
             "usage": {**MESSAGES_USAGE, "output_tokens": 1}}  # fmt: skip
    events = [
        sse("message_start", {"type": "message_start", "message": start}),
        sse("ping", {"type": "ping"}),
    ]
    if thinking:
        events += [
            sse("content_block_start", {"type": "content_block_start", "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "Let me answer."}}),
            sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM-sig"}}),
            sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]  # fmt: skip
    index = 1 if thinking else 0
    events.append(sse("content_block_start", {"type": "content_block_start", "index": index,
                      "content_block": {"type": "text", "text": ""}}))  # fmt: skip
    for word in words:
        delta = {"type": "text_delta", "text": word}
        data = {"type": "content_block_delta", "index": index, "delta": delta}
        events.append(sse("content_block_delta", data))
    usage = {"output_tokens": MESSAGES_USAGE["output_tokens"]}
    events += [
        sse("content_block_stop", {"type": "content_block_stop", "index": index}),
        sse("message_delta", {"type": "message_delta", "usage": usage,
            "delta": {"stop_reason": "end_turn", "stop_sequence": None}}),
        sse("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return events


def anthropic_error(kind: str, text: str) -> dict[str, Any]:
    """Anthropic's error body (``overloaded_error``, ``rate_limit_error``, ...)."""
    return {"type": "error", "error": {"type": kind, "message": text}}


def response(model: str, text: str = "Hello from OpenAI.") -> dict[str, Any]:
    """A whole Responses answer, with an encrypted reasoning item."""
    return {
        "id": "resp_fake_native",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "completed",
        "model": model,
        "error": None,
        "output": [
            {
                "id": "rs_1",
                "type": "reasoning",
                "summary": [],
                "encrypted_content": "gAAAA-sealed-reasoning",
            },
            {
                "id": "msg_1",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            },
        ],
        "usage": RESPONSES_USAGE,
    }


def response_events(model: str, words: list[str], *, reasoning: bool = True) -> list[bytes]:
    """A streamed Responses answer: a reasoning item (unless not ``reasoning``), then a
    message of ``words`` (at output index 1 either way)."""
    opened = {**response(model), "status": "in_progress", "output": [], "usage": None}
    whole = response(model, "".join(words))
    thought, item = whole["output"]
    if not reasoning:
        whole["output"] = [item]
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": opened}),
        ("response.in_progress", {"response": opened}),
    ]
    if reasoning:
        kinds += [
            ("response.output_item.added", {"output_index": 0, "item": thought}),
            ("response.output_item.done", {"output_index": 0, "item": thought}),
        ]
    kinds += [
        ("response.output_item.added", {"output_index": 1,
         "item": {**item, "status": "in_progress", "content": []}}),
        ("response.content_part.added", {"item_id": "msg_1", "output_index": 1,
         "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
    ]  # fmt: skip
    for word in words:
        kinds.append(("response.output_text.delta", {"item_id": "msg_1", "output_index": 1,
                      "content_index": 0, "delta": word, "logprobs": []}))  # fmt: skip
    kinds += [
        ("response.output_text.done", {"item_id": "msg_1", "output_index": 1,
         "content_index": 0, "text": "".join(words)}),
        ("response.output_item.done", {"output_index": 1, "item": item}),
        ("response.completed", {"response": whole}),
    ]  # fmt: skip
    return [
        sse(kind, {"type": kind, "sequence_number": number, **fields})
        for number, (kind, fields) in enumerate(kinds)
    ]


def failed_events(model: str) -> list[bytes]:
    """A Responses stream that fails before any output (``response.failed``)."""
    opened = {**response(model), "status": "in_progress", "output": [], "usage": None}
    failed = {**opened, "status": "failed",
              "error": {"code": "server_error", "message": "The model is overloaded"}}  # fmt: skip
    return [
        sse("response.created", {"type": "response.created", "sequence_number": 0,
            "response": opened}),
        sse("response.failed", {"type": "response.failed", "sequence_number": 1,
            "response": failed}),
    ]  # fmt: skip


def native_default(path: str, body: dict[str, Any]) -> tuple[Any, list[bytes] | None]:
    """The default answer of a native path: (a whole body, or the stream's events)."""
    model = str(body.get("model", "fake-model"))
    words = ["Hello", " from", " native."]
    if path.endswith("/count_tokens"):
        return {"input_tokens": COUNTED}, None
    if path.endswith("/messages"):
        return (
            (None, message_events(model, words)) if body.get("stream") else (message(model), None)
        )
    if body.get("stream"):
        return None, response_events(model, words)
    return response(model), None
