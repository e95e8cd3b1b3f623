"""The thinnest proxy on keyrelay's stack: Flask + one pooled ``requests`` session, nothing else.

No validation, routing, keys, failover, metrics or logging: the request body goes to
the upstream as it came and the answer comes back as it went. Under the same gunicorn
settings as keyrelay, it measures what the stack itself costs per request, the floor
that keyrelay's own work sits on.
"""

from __future__ import annotations

import os

import requests
from flask import Flask, Response, request

app = Flask(__name__)
_UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:9/v1") + "/chat/completions"
_session = requests.Session()


@app.get("/health")
def health() -> dict[str, str]:
    """Liveness, for the launcher."""
    return {"status": "ok"}


@app.post("/v1/chat/completions")
def relay() -> Response:
    """Send the body upstream and return the answer."""
    answer = _session.post(
        _UPSTREAM,
        data=request.get_data(),
        headers={"Content-Type": "application/json"},
        timeout=(5, 30),
    )
    return Response(answer.content, status=answer.status_code, content_type="application/json")
