"""The plain-message fast path validates exactly as the nested schema does."""

from __future__ import annotations

import random
from typing import Any

from marshmallow import fields

from app.dialects.chat.schema import (
    ChatCompletionSchema,
    MessageSchema,
    is_plain_message,
)
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
