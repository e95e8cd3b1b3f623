"""The plain-message and plain-request shortcuts validate exactly as the schema does."""

from __future__ import annotations

import random
from typing import Any

from marshmallow import fields

from app.dialects.chat.plain import is_plain_message, plainly_valid
from app.dialects.chat.schema import ChatCompletionSchema, MessageSchema, chat_schema
from app.dialects.validate import first_error

VALUES: list[Any] = [
    "hi",
    "",
    None,
    5,
    True,
    ["x"],
    [{"type": "text", "text": "x"}],
    {"a": 1},
    b"x",
]
ROLES = ["system", "developer", "user", "assistant", "tool", "function", "robot", "", None, 3]
KEYS = ["role", "content", "name", "tool_call_id", "tool_calls", "function_call", "extra"]


class ReferenceSchema(ChatCompletionSchema):
    """The same schema with every message through MessageSchema."""

    messages = fields.List(fields.Nested(MessageSchema), required=True)


def random_message(generator: random.Random) -> Any:
    if generator.random() < 0.05:
        return generator.choice(["text", 3, None, []])
    if generator.random() < 0.5:
        message = {"role": generator.choice(ROLES[:4]), "content": "hello"}
        if generator.random() < 0.2:
            message["name"] = generator.choice(["bob", 5])
        return message
    message = {"role": generator.choice(ROLES)}
    for key in generator.sample(KEYS[1:], generator.randint(0, 4)):
        message[key] = generator.choice(VALUES)
    if generator.random() < 0.2:
        del message["role"]
    return message


def test_fast_path_agrees_with_the_schema_on_random_conversations() -> None:
    generator = random.Random(20261124)
    fast, reference = ChatCompletionSchema(), ReferenceSchema()
    plain_seen = rejected = 0
    for _ in range(3000):
        messages = [random_message(generator) for _ in range(generator.randint(1, 6))]
        body = {"model": "m", "messages": messages}
        expected = reference.validate(body)
        assert fast.validate(body) == expected, messages
        if expected:
            assert first_error(fast.validate(body)) == first_error(expected)
            rejected += 1
        plain_seen += sum(is_plain_message(m) for m in messages)
    assert plain_seen > 1000 and rejected > 1000  # both paths were exercised


def test_every_plain_message_is_one_the_schema_accepts() -> None:
    generator = random.Random(7)
    checked = 0
    for _ in range(5000):
        message = random_message(generator)
        if is_plain_message(message):
            assert MessageSchema().validate(message) == {}
            checked += 1
    assert checked > 1000


#: Values every field is tried with: in range, at the bounds, past them, of other types.
FIELD_VALUES: list[Any] = [
    None, True, False, 0, 1, 2, 3, 20, 21, 128, 129, -1, -2, -3, 0.0, 0.5, 1.0, 2.0, 2.5, -2.0,
    100, -100, 101, 2**63, 2**64, float("nan"), float("inf"), "", "x", "0.5", [], ["a"],
    ["a", "b", "c", "d"], ["a"] * 5, [1], {}, {"include_usage": True}, {"1": 5}, {"1": 500},
    {"1": "x"}, [{}], [{"type": "function"}], ["x"], [None],
]  # fmt: skip
FIELDS = [
    "temperature", "top_p", "n", "presence_penalty", "frequency_penalty", "stop", "stream",
    "stream_options", "max_tokens", "max_completion_tokens", "logprobs", "top_logprobs",
    "logit_bias", "tools", "seed", "user", "response_format", "unknown_field",
]  # fmt: skip
MODELS: list[Any] = ["m", "", "x" * 256, "x" * 257, 5, None, ["m"]]


def random_body(generator: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {"model": generator.choice(MODELS) if generator.random() < 0.2 else "m"}
    if generator.random() < 0.5:  # plain messages: whether the fields are decides
        body["messages"] = [{"role": "user", "content": "hi"}] * generator.randint(1, 3)
    elif generator.random() < 0.9:
        count = generator.randint(0, 4)
        body["messages"] = [random_message(generator) for _ in range(count)]
    for name in generator.sample(FIELDS, generator.randint(0, 5)):
        body[name] = generator.choice(FIELD_VALUES)
    return body


def test_the_plain_request_check_agrees_with_the_schema_on_random_bodies() -> None:
    generator = random.Random(20261204)
    shortcut, reference = chat_schema, ChatCompletionSchema()
    plain = refused = 0
    for _ in range(20000):
        body = random_body(generator)
        expected = reference.validate(body)
        if plainly_valid(body):
            assert expected == {}, body  # the shortcut never lets a bad request through
            plain += 1
        assert shortcut.validate(body) == expected, body
        refused += bool(expected)
    assert plain > 2000 and refused > 5000  # both outcomes exercised
