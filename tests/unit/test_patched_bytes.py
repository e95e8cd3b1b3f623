"""Parse once, encode once: what goes upstream is what the rebuilt path sent before.

Before orjson, every body was read by ``json.loads`` and written again by ``json.dumps``
(chat: ASCII-escaped; native dialects: UTF-8). The reference functions below are that
path, kept here to compare against. For a corpus of real request bodies (the recorded
Claude Code and Codex requests, hand-made edge cases, the bad-input corpus): the value
read is the same, a native body whose model does not change is the client's own bytes,
one whose model changes is byte for byte what the old path wrote, and a chat body is
field for field (key order included) what the old path wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from providers import WireDialect
from providers.routing.native import NativeRequest
from providers.upstream import jsonlimits

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "clients"
RECORDED = {p.stem: json.loads(p.read_text())["body"] for p in sorted(FIXTURES.glob("*.json"))}
EDGES: dict[str, dict[str, Any]] = {
    "non-ascii": {"model": "m", "messages": [{"role": "user", "content": "héllo 日本 🎉 \u2028"}]},
    "escapes": {"model": "m", "messages": [{"role": "user", "content": "a\"b\\c\n\t\u0001/"}]},
    "numbers": {"model": "m", "temperature": 0.1, "top_p": 1.0, "seed": 2**62, "x": 1e-7,
                "y": 1e20, "z": -0.0, "n": [0, -1, 3.5]},
    "nested-schema": {"model": "m", "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {
            "a": {"type": "array", "items": {"type": "object", "properties": {
                "b": {"type": "string", "enum": ["x", "y"]}}}}}}}}]},
    "keyrelay-fields": {"model": "m", "keyrelay_reasoning_effort": "high", "input": "hi"},
    "empty-containers": {"model": "m", "metadata": {}, "stop": [], "messages": []},
    "big-integer": {"model": "m", "seed": 2**70 + 1, "x": [-(2**65) - 3]},
}  # fmt: skip
CORPUS = {**RECORDED, **EDGES}
#: Bodies of the bad-input corpus (tests/integration/test_bad_input.py) and their kin.
BAD = [
    b"[" * 10_000 + b"]" * 10_000,
    b'{"model": "m", "x": ' + b"[" * 500 + b"]" * 500 + b"}",
    b'{"model": "' + b"m" * 4000 + b'", "messages": []}',
    b'{"model": "\xff\xfe"}',
    b"[]",
    b'{"model": "m", "x": NaN}',
    b'{"model": "m", "x": "\\ud800"}',
    b'\xef\xbb\xbf{"model": "m"}',
    b'{"model": "m",}',
    b"",
    b'{"model": "m", "a": 1, "a": 2}',
]


def old_deeper_than(data: Any, limit: int) -> bool:
    """The old depth walk, as it was."""
    if type(data) is not dict and type(data) is not list:
        return False
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        for child in value.values() if type(value) is dict else value:
            if type(child) is dict or type(child) is list:
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def old_loads(raw: bytes) -> Any:
    """The old reader: ``json.loads``, then the depth walk."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise jsonlimits.JSONTooDeep("deep") from None
    if old_deeper_than(data, jsonlimits.MAX_JSON_DEPTH):
        raise jsonlimits.JSONTooDeep("deep")
    return data


def old_native_bytes(body: dict[str, Any], model: str) -> bytes:
    """The old native body: keyrelay's fields dropped, the model patched, written by json."""
    kept = {k: v for k, v in body.items() if not k.startswith("keyrelay_")}
    kept["model"] = model
    return json.dumps(kept, separators=(",", ":"), ensure_ascii=False).encode()


def old_chat_bytes(payload: dict[str, Any]) -> bytes:
    """The old chat body, as ``upstream.http.send`` wrote it."""
    return json.dumps(payload, separators=(",", ":")).encode()


def ordered(raw: bytes) -> str:
    """``raw`` read and written again in one fixed way: equal when the fields, their values
    and their order are."""
    return json.dumps(json.loads(raw), sort_keys=False)


def client_bytes(body: dict[str, Any]) -> bytes:
    """How an SDK sends a body: ``json.dumps`` with its default separators."""
    return json.dumps(body).encode()


def native(body: dict[str, Any], raw: bytes) -> NativeRequest:
    return NativeRequest(WireDialect.MESSAGES, body, {}, raw)


def candidate(model: str) -> Any:
    return SimpleNamespace(model=model)


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_value_read_is_the_old_readers(name: str) -> None:
    raw = client_bytes(CORPUS[name])
    assert jsonlimits.loads_bounded(raw) == old_loads(raw)


@pytest.mark.parametrize("name", list(CORPUS))
def test_a_native_body_whose_model_stays_is_the_clients_own_bytes(name: str) -> None:
    body = CORPUS[name]
    raw = json.dumps(body, indent=1).encode()  # a client's own formatting, kept
    sent = native(body, raw).body_for(candidate(body["model"]))
    if any(k.startswith("keyrelay_") for k in body):
        assert sent == old_native_bytes(body, body["model"])  # its fields must go: rebuilt
    else:
        assert sent is raw


@pytest.mark.parametrize("name", list(CORPUS))
def test_a_native_body_with_a_new_model_is_byte_for_byte_the_old_one(name: str) -> None:
    body = CORPUS[name]
    sent = native(body, client_bytes(body)).body_for(candidate("upstream-model-id"))
    if name == "numbers":  # the one difference: orjson writes 1e-7, json 1e-07
        assert ordered(sent) == ordered(old_native_bytes(body, "upstream-model-id"))
        return
    assert sent == old_native_bytes(body, "upstream-model-id")


def test_a_big_integer_is_read_and_sent_exactly() -> None:
    raw = client_bytes(EDGES["big-integer"])
    body = jsonlimits.loads_bounded(raw)  # orjson alone would round it to a float
    assert body["seed"] == 2**70 + 1 and type(body["seed"]) is int
    sent = native(body, raw).body_for(candidate("other"))
    assert json.loads(sent)["seed"] == 2**70 + 1 and json.loads(sent)["x"] == [-(2**65) - 3]


@pytest.mark.parametrize("name", list(CORPUS))
def test_a_chat_body_is_field_for_field_the_old_one(name: str) -> None:
    payload = {**CORPUS[name], "model": "upstream-model-id"}
    assert ordered(jsonlimits.dumps(payload)) == ordered(old_chat_bytes(payload))


@pytest.mark.parametrize("raw", BAD, ids=range(len(BAD)))
def test_bad_input_is_refused_or_read_as_before(raw: bytes) -> None:
    try:
        before: Any = old_loads(raw)
    except ValueError as exc:
        before = type(exc)
    try:
        after: Any = jsonlimits.loads_bounded(raw)
    except ValueError as exc:
        after = type(exc)
    if before is float("nan") or (isinstance(before, dict) and before.get("x") != before.get("x")):
        assert isinstance(after, dict) and after["x"] != after["x"]  # NaN, read as before
        return
    assert after == before


def test_what_orjson_cannot_write_is_written_by_the_standard_library() -> None:
    lone = jsonlimits.loads_bounded(b'{"x": "\\ud800"}')
    assert jsonlimits.dumps(lone) == b'{"x":"\\ud800"}'
    assert jsonlimits.dumps({"seed": 2**70}) == b'{"seed":1180591620717411303424}'
