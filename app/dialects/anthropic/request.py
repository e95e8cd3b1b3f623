"""Anthropic Messages requests, validated and translated into chat completions.

``system`` becomes a system message, and a ``system`` turn inside ``messages`` (Claude
Code puts its environment there) a system message in its place (merged into the leading
one for a provider that takes only one); ``tool_use`` blocks become assistant
``tool_calls`` and ``tool_result`` blocks ``role: "tool"`` messages (ids kept, and
placed before the rest of their turn); images become ``image_url`` parts; tools,
``tool_choice``, ``stop_sequences``, ``thinking`` and ``output_config.effort`` map onto
their chat counterparts. Tools with ``defer_loading`` are left out (the client loads them
later through its tool search), and ``metadata.user_id`` is never sent on. Anything
malformed is an ``APIError`` (400) naming where, worded as Anthropic words it
(``messages.1.role: Input should be ...``), so that clients' own fallbacks recognise it.
"""

from __future__ import annotations

import json
from typing import Any

from providers import CACHE_HINT, REASONING_HINT

from app.dialects.anthropic.tools import invalid, tool_choice, tools_of
from app.dialects.base import streamed_with_usage

#: ``thinking.budget_tokens`` at or above each bound asks for that reasoning effort.
EFFORT_BOUNDS = ((16384, "high"), (4096, "medium"), (0, "low"))
#: ``output_config.effort`` as a chat reasoning effort.
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completions request for an (already schema-valid) Messages request."""
    messages = _system(body.get("system"))
    marks = {0: mark} if messages and (mark := cache_mark(body.get("system"))) else {}
    for index, message in enumerate(body["messages"]):
        role, content = message.get("role"), message.get("content")
        if type(content) is str and (role == "user" or role == "assistant"):
            messages.append({"role": role, "content": content})  # most turns: no blocks
            continue
        messages += _message(message, f"messages[{index}]")
        if mark := cache_mark(content):
            marks[len(messages) - 1] = mark
    chat: dict[str, Any] = {
        "model": body["model"],
        "messages": messages,
        "max_tokens": body["max_tokens"],
    }
    if marks:
        chat[CACHE_HINT] = marks
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    tools = tools_of(body.get("tools"))
    if tools:
        chat["tools"] = tools
    chat.update(tool_choice(body.get("tool_choice")))
    effort = _effort(body.get("thinking"), body.get("output_config"))
    if effort:
        chat[REASONING_HINT] = effort
    if body.get("stream"):
        streamed_with_usage(chat)
    return chat


def cache_mark(content: Any) -> dict[str, Any] | None:
    """The ``cache_control`` of the last block that carries one (a prompt-cache breakpoint)."""
    if not isinstance(content, list):
        return None
    marks = [b["cache_control"] for b in content
             if isinstance(b, dict) and isinstance(b.get("cache_control"), dict)]  # fmt: skip
    return marks[-1] if marks else None


def _system(system: Any) -> list[dict[str, Any]]:
    if system is None or system == "" or system == []:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if isinstance(system, list):
        return [{"role": "system", "content": _text_of(system, "system")}]
    raise invalid("system", "must be a string or a list of text blocks")


def _text_of(blocks: list[Any], where: str) -> str:
    texts = []
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise invalid(f"{where}[{index}]", "must be a text block")
        if not isinstance(block.get("text"), str):
            raise invalid(f"{where}[{index}].text", "must be a string")
        texts.append(block["text"])
    return "\n\n".join(texts)


def _message(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    role, content = message.get("role"), message.get("content")
    if role not in ("user", "assistant", "system"):
        raise invalid(f"{where}.role", "must be 'user', 'assistant' or 'system'")
    if role == "system":
        return [{"role": "system", "content": _system_turn(content, f"{where}.content")}]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise invalid(f"{where}.content", "must be a string or a list of content blocks")
    if role == "assistant":
        return [_assistant(content, f"{where}.content")]
    return _user(content, f"{where}.content")


def _system_turn(content: Any, where: str) -> str:
    """A system turn's text: a string, or the text of its blocks (others carry none)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid(where, "must be a string or a list of content blocks")
    texts = []
    for index, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise invalid(f"{where}[{index}]", "must be a content block")
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
    return "\n\n".join(texts)


def _assistant(blocks: list[Any], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        at = f"{where}[{index}]"
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(_tool_call(block, at))
        elif kind in ("thinking", "redacted_thinking"):
            continue  # the upstream's own reasoning is not sent back to it
        else:
            raise invalid(at, "must be a text, tool_use or thinking block")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _tool_call(block: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(block.get("id"), str) or not block["id"]:
        raise invalid(f"{where}.id", "must be a non-empty string")
    if not isinstance(block.get("name"), str) or not block["name"]:
        raise invalid(f"{where}.name", "must be a non-empty string")
    if not isinstance(block.get("input", {}), dict):
        raise invalid(f"{where}.input", "must be an object")
    arguments = json.dumps(block.get("input", {}), separators=(",", ":"))
    return {
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": arguments},
    }


def _user(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        at = f"{where}[{index}]"
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            parts.append(_image(block.get("source"), f"{at}.source"))
        elif kind == "tool_result":
            results.append(_tool_result(block, at))
        else:
            raise invalid(at, "must be a text, image or tool_result block")
    if not parts:
        return results
    if all(part["type"] == "text" for part in parts):
        return [*results, {"role": "user", "content": "\n\n".join(p["text"] for p in parts)}]
    return [*results, {"role": "user", "content": parts}]


def _image(source: Any, where: str) -> dict[str, Any]:
    if isinstance(source, dict) and source.get("type") == "base64":
        media, data = source.get("media_type"), source.get("data")
        if isinstance(media, str) and media.startswith("image/") and isinstance(data, str):
            return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}}
    url = source.get("url") if isinstance(source, dict) and source.get("type") == "url" else None
    if isinstance(url, str) and url:
        return {"type": "image_url", "image_url": {"url": url}}
    raise invalid(where, "must be a base64 source (media_type image/*, data) or a url source")


def _tool_result(block: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"{where}.tool_use_id", "must be a non-empty string")
    content = block.get("content", "")
    if isinstance(content, list):
        texts = [
            part.get("text", "") if part.get("type") == "text" else "[image]"
            for part in content
            if isinstance(part, dict)
        ]
        content = "\n\n".join(texts)
    if not isinstance(content, str):
        raise invalid(f"{where}.content", "must be a string or a list of blocks")
    if block.get("is_error") is True:
        content = f"Error: {content}"
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _effort(thinking: dict[str, Any] | None, output: Any) -> str | None:
    """The reasoning hint: ``output_config.effort``, or the budget of enabled thinking."""
    wanted = output.get("effort") if isinstance(output, dict) else None
    if wanted is not None:
        if wanted not in EFFORTS:
            raise invalid("output_config.effort", f"must be one of {', '.join(EFFORTS)}")
        if not thinking or thinking.get("type") != "disabled":
            return EFFORTS[wanted]
    if not thinking or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
        raise invalid("thinking.budget_tokens", "must be a whole number of tokens")
    return next(effort for bound, effort in EFFORT_BOUNDS if budget >= bound)


def estimate_tokens(body: dict[str, Any]) -> int:
    """About how many input tokens a request is (4 characters a token): an estimate."""
    text = json.dumps(
        [body.get("system"), body.get("messages"), body.get("tools")], ensure_ascii=False
    )
    return max(1, len(text) // 4)


def check_block_types(body: dict[str, Any]) -> None:
    """Validate every block by translating (the count_tokens route, which forwards nothing)."""
    to_chat({**body, "max_tokens": body.get("max_tokens") or 1, "stream": False})
