"""A stand-in for the internet: an HTTP(S) proxy on loopback that refuses everything.

The real coding-agent clients run with ``HTTPS_PROXY``/``HTTP_PROXY`` pointing here, so
every outside connection they attempt (updates, telemetry, their vendors' APIs) is
refused and noted, and no test reaches the internet.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


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
