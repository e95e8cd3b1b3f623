"""What the real coding-agent clients' tests share: a stand-in for the internet, and a
gateway with two tiers in front of two scripted upstreams.

The clients run with ``HTTPS_PROXY``/``HTTP_PROXY`` pointing at ``RefusingProxy``, so every
outside connection they attempt (updates, telemetry, their vendors' APIs) is refused and
noted, and no test reaches the internet.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream

from .helpers import CLIENT_KEY


class RefusingProxy:
    """An HTTP(S) proxy on loopback that refuses every connection and notes where to."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _refuse(self) -> None:
                proxy.asked.append(self.path)
                self.send_response(403, "no outside connections in tests")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_CONNECT = do_GET = do_POST = do_HEAD = _refuse

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def refusing_proxy() -> Iterator[RefusingProxy]:
    proxy = RefusingProxy()
    yield proxy
    proxy.close()


def two_tier_gateway(groq: FakeUpstream, backup: FakeUpstream) -> Gunicorn:
    """keyrelay with groq (tier 2) in front of ``groq`` and a tier-3 backup."""
    return Gunicorn(
        {
            "PROXY_API_KEY": CLIENT_KEY,
            "GROQ_API_KEY": "gsk_fake_groq_key_aaaaaaaaaaaaaaaa",
            "GROQ_API_BASE": groq.base_url,
            "BACKUP_API_KEY": "sk-fake-backup-key-bbbbbbbbbbbbbbbb",
            "BACKUP_API_BASE": backup.base_url,
            "PROVIDER_PRIORITY_BACKUP": "3",
        }
    )
