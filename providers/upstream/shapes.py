"""What a chat completion must look like before anything reads it: checked at the boundary.

A 2xx answer whose fields have the wrong types (``choices: [1]``, ``message: "str"``,
``tool_calls: "x"``, ``function: "f"``) is the provider's failure, like a body that is
not JSON: before the commit point the walk moves on, after it the stream ends with the
dialect's error. Every reader after this (chat, Messages, Responses) may then trust the
types it indexes. Unknown fields are let through; only the ones keyrelay reads are checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.errors import BadUpstreamResponse

#: Fields of a message (or a stream's delta) that are text or absent.
_TEXT = ("role", "refusal", "reasoning", "reasoning_content")


def check_completion(data: Mapping[str, Any]) -> None:
    """Raise ``BadUpstreamResponse`` unless ``data`` is a readable whole completion."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise BadUpstreamResponse("the upstream completion has no choices")
    for choice in choices:
        _choice(choice, "message")
    _usage(data)


def check_chunk(chunk: Mapping[str, Any]) -> None:
    """Raise ``BadUpstreamResponse`` unless ``chunk`` is a readable stream chunk."""
    choices = chunk.get("choices")
    if choices is None:
        return _usage(chunk)
    if not isinstance(choices, list):
        raise BadUpstreamResponse("the upstream sent a chunk whose choices are not a list")
    for choice in choices:
        _choice(choice, "delta")
    return _usage(chunk)


def _choice(choice: Any, part: str) -> None:
    if not isinstance(choice, dict):
        raise BadUpstreamResponse("the upstream sent a choice that is not an object")
    if not isinstance(choice.get("finish_reason"), (str, type(None))):
        raise BadUpstreamResponse("the upstream sent a finish_reason that is not text")
    message = choice.get(part)
    if message is None and part == "delta":
        return
    if not isinstance(message, dict):
        raise BadUpstreamResponse(f"the upstream sent a {part} that is not an object")
    for name in _TEXT:
        if not isinstance(message.get(name), (str, type(None))):
            raise BadUpstreamResponse(f"the upstream sent a {part}.{name} that is not text")
    if not isinstance(message.get("content"), (str, list, type(None))):
        raise BadUpstreamResponse(f"the upstream sent a {part}.content that is not text")
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise BadUpstreamResponse(f"the upstream sent {part}.tool_calls that are not a list")
    for call in calls or ():
        _tool_call(call, part)


def _tool_call(call: Any, part: str) -> None:
    if not isinstance(call, dict):
        raise BadUpstreamResponse(f"the upstream sent a {part} tool call that is not an object")
    function = call.get("function")
    if function is None and part == "delta":
        return
    if not isinstance(function, dict):
        raise BadUpstreamResponse("the upstream sent a tool call whose function is not an object")
    for name in ("name", "arguments"):
        if not isinstance(function.get(name), (str, type(None))):
            raise BadUpstreamResponse(f"the upstream sent a tool call {name} that is not text")
    if not isinstance(call.get("id"), (str, type(None))):
        raise BadUpstreamResponse("the upstream sent a tool call id that is not text")
    if not isinstance(call.get("index", 0), int):
        raise BadUpstreamResponse("the upstream sent a tool call index that is not a number")


def _usage(data: Mapping[str, Any]) -> None:
    if not isinstance(data.get("usage"), (dict, type(None))):
        raise BadUpstreamResponse("the upstream sent usage that is not an object")
