"""Flask's JSON answers written by orjson (``jsonify``): compact, in key order, UTF-8."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.json.provider import DefaultJSONProvider
from providers import dumps_json


class FastJSONProvider(DefaultJSONProvider):
    """Flask's default provider with its answers encoded once, by orjson."""

    sort_keys = False

    def response(self, *args: Any, **kwargs: Any) -> Any:
        """``jsonify``: compact JSON and a newline (indented in debug mode, as Flask does)."""
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)
        data = self._prepare_response_obj(args, kwargs)
        body = dumps_json(data, default=self.default) + b"\n"
        return Response(body, mimetype=self.mimetype)
