"""Anthropic Messages request bodies: the top level (blocks are checked while translating)."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields
from marshmallow.validate import Length, Range
from providers import MAX_MODEL_NAME

from app.dialects.validate import ObjectList, StrictBoolean, StrictFloat, StrictInteger


class MessagesSchema(Schema):
    """``POST /v1/messages``: the top level (blocks are checked while translating)."""

    class Meta:
        unknown = INCLUDE

    model = fields.String(required=True, validate=Length(min=1, max=MAX_MODEL_NAME))
    max_tokens = StrictInteger(required=True, validate=Range(min=1))
    messages = ObjectList(required=True, validate=Length(min=1))
    system = fields.Raw(allow_none=True)
    temperature = StrictFloat(allow_none=True, validate=Range(0, 1))
    top_p = StrictFloat(allow_none=True, validate=Range(0, 1))
    top_k = StrictInteger(allow_none=True, validate=Range(min=0))
    stop_sequences = fields.List(fields.String(), allow_none=True)
    stream = StrictBoolean(allow_none=True)
    tools = ObjectList(allow_none=True)
    tool_choice = fields.Dict(allow_none=True)
    metadata = fields.Dict(allow_none=True)
    thinking = fields.Dict(allow_none=True)


class CountTokensSchema(MessagesSchema):
    """``POST /v1/messages/count_tokens``: a Messages request without ``max_tokens``."""

    max_tokens = StrictInteger(validate=Range(min=1))


messages_schema = MessagesSchema()
count_tokens_schema = CountTokensSchema()
