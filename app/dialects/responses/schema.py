"""OpenAI Responses request bodies: the top level (items are checked while translating)."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields
from marshmallow.validate import Length, Range
from providers import MAX_MODEL_NAME

from app.dialects.validate import ObjectList, StrictBoolean, StrictFloat, StrictInteger


class ResponsesSchema(Schema):
    """``POST /v1/responses``: the top level (items are checked while translating)."""

    class Meta:
        unknown = INCLUDE

    model = fields.String(required=True, validate=Length(min=1, max=MAX_MODEL_NAME))
    input = fields.Raw(required=True)
    instructions = fields.String(allow_none=True)
    max_output_tokens = StrictInteger(allow_none=True, validate=Range(min=1))
    temperature = StrictFloat(allow_none=True, validate=Range(0, 2))
    top_p = StrictFloat(allow_none=True, validate=Range(0, 1))
    stream = StrictBoolean(allow_none=True)
    parallel_tool_calls = StrictBoolean(allow_none=True)
    tools = ObjectList(allow_none=True)
    tool_choice = fields.Raw(allow_none=True)
    text = fields.Dict(allow_none=True)
    reasoning = fields.Dict(allow_none=True)
    metadata = fields.Dict(allow_none=True)
    user = fields.String(allow_none=True)
    prompt_cache_key = fields.String(allow_none=True, validate=Length(max=1024))
    store = StrictBoolean(allow_none=True)
    include = fields.List(fields.String(validate=Length(max=128)), allow_none=True)
    client_metadata = fields.Dict(allow_none=True)


responses_schema = ResponsesSchema()
