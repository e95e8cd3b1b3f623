"""Responses ``input`` items as chat messages.

``message`` items become messages (``developer`` is a system message); ``function_call``
and ``custom_tool_call`` items assistant ``tool_calls`` (consecutive ones merged), under
the chat names the request's tools were given; ``*_call_output`` items ``role: "tool"``
messages; ``reasoning`` items are dropped (the upstream's own reasoning is not sent back);
a ``compaction`` item keyrelay wrote becomes the summary it holds. Item ``id`` and
``status`` are ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from app.dialects.responses.tools import ToolSet
from app.errors import invalid

#: What starts the ``encrypted_content`` of a compaction item keyrelay wrote: the summary
#: is the rest, base64. It is the client's own conversation, so it is encoded, not sealed.
COMPACTION_MARK = "keyrelay-compaction-1:"
SUMMARY_LEAD = "A summary of the conversation before this point (its history was compacted):\n\n"
CALLS = ("function_call", "custom_tool_call")
OUTPUTS = ("function_call_output", "custom_tool_call_output")


def compaction_content(summary: str) -> str:
    """The ``encrypted_content`` of a compaction item holding ``summary``."""
    return COMPACTION_MARK + base64.b64encode(summary.encode()).decode()


#: (type, role) of the items whose string content is a chat message as it is.
_PLAIN: dict[tuple[Any, Any], bool] = {
    ("message", "user"): True,
    ("message", "assistant"): True,
    ("message", "system"): True,
}


def messages_of(given: Any, tools: ToolSet, left_out: list[str]) -> list[dict[str, Any]]:
    """The chat messages for ``input`` (a string or a list of items)."""
    if isinstance(given, str):
        return [{"role": "user", "content": given}]
    if not isinstance(given, list) or not given:
        raise invalid("input", "must be a string or a non-empty list of items")
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(given):
        if (
            type(item) is dict
            and type(item.get("content")) is str
            and _PLAIN.get((item.get("type", "message"), item.get("role")))
        ):
            messages.append({"role": item["role"], "content": item["content"]})  # most turns
            continue
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise invalid(where, "must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind in CALLS:
            _add_call(messages, item, where, tools)
        elif kind in OUTPUTS:
            messages.append(_call_output(item, where))
        elif kind == "compaction":
            summary = _summary(item)
            if summary is None:
                left_out.append("compaction")
            else:
                messages.append({"role": "user", "content": SUMMARY_LEAD + summary})
        elif kind in ("reasoning", "compaction_trigger"):
            continue
        elif kind == "item_reference":
            raise invalid(where, "keyrelay is stateless: send the item itself, not a reference")
        else:
            raise invalid(f"{where}.type", f"the item type {str(kind)[:64]!r} is not supported")
    return messages


def _summary(item: dict[str, Any]) -> str | None:
    content = item.get("encrypted_content")
    if not isinstance(content, str) or not content.startswith(COMPACTION_MARK):
        return None  # another server's sealed compaction: keyrelay cannot read it
    try:
        return base64.b64decode(content.removeprefix(COMPACTION_MARK), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise invalid(f"{where}.role", "must be user, assistant, system or developer")
    role = "system" if role == "developer" else role
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise invalid(f"{where}.content", "must be a string or a list of content parts")
    parts = [_part(part, f"{where}.content[{i}]") for i, part in enumerate(content)]
    if role != "user" or all(part["type"] == "text" for part in parts):
        text = "".join(part.get("text", "") for part in parts)
        return {"role": role, "content": text}
    return {"role": role, "content": parts}


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "refusal" and isinstance(part.get("refusal"), str):
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise invalid(f"{where}.image_url", "must be a URL or a data URI (file ids need state)")
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    raise invalid(where, "must be an input_text, output_text or input_image part")


def _add_call(
    messages: list[dict[str, Any]], item: dict[str, Any], where: str, tools: ToolSet
) -> None:
    for name in ("call_id", "name"):
        if not isinstance(item.get(name), str) or not item[name]:
            raise invalid(f"{where}.{name}", "must be a non-empty string")
    chat_name = tools.chat_name(item["name"], item.get("namespace"))
    if item["type"] == "custom_tool_call":
        text = item.get("input", "")
        if not isinstance(text, str):
            raise invalid(f"{where}.input", "must be a string")
        arguments = json.dumps({"input": text})
    else:
        arguments = item.get("arguments", "")
        if not isinstance(arguments, str):
            raise invalid(f"{where}.arguments", "must be a string of JSON")
    call = {
        "id": item["call_id"],
        "type": "function",
        "function": {"name": chat_name, "arguments": arguments},
    }
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)  # consecutive calls: one message
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _call_output(item: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(item.get("call_id"), str) or not item["call_id"]:
        raise invalid(f"{where}.call_id", "must be a non-empty string")
    output = item.get("output", "")
    if isinstance(output, list):
        output = "".join(part.get("text", "") for part in output if isinstance(part, dict))
    if not isinstance(output, str):
        raise invalid(f"{where}.output", "must be a string or a list of content parts")
    return {"role": "tool", "tool_call_id": item["call_id"], "content": output}
