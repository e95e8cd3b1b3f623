"""gunicorn's workers as keyrelay runs them: errors in the OpenAI envelope, quiet client time-outs.

``gunicorn.conf.py`` names these classes. gunicorn answers requests it cannot
parse (a request line over ``limit_request_line``, too many or too large
headers, a broken chunked body) before the app sees them, with an HTML page;
here they get the JSON envelope every other error has. A client that stops
reading (``CLIENT_SEND_TIMEOUT``) ends its connection with one log line, not a
traceback. The gevent class is built only when asked for, so that a gthread
master never imports gevent.

This module must not import ``app``: gunicorn loads it in the master, and gevent
patches the standard library only later, in each worker.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker as _ThreadWorker

_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "request_line_too_long",
    417: "expectation_failed",
    431: "request_headers_too_large",
    501: "unsupported_transfer_coding",
}


def write_json_error(sock: Any, status: int, reason: str, message: str) -> None:
    """gunicorn's ``util.write_error``, answering with the OpenAI error envelope."""
    error_type = "invalid_request_error" if status < 500 else "server_error"
    text = message or reason
    envelope = {"message": text, "type": error_type, "param": None, "code": _CODES.get(status)}
    body = json.dumps({"error": envelope}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = write_json_error


class ThreadWorker(_ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker; a client that stops reading closes quietly."""

    def handle_request(self, req: Any, conn: Any) -> bool:
        """Serve one request; a send time-out ends the connection."""
        try:
            return bool(super().handle_request(req, conn))
        except TimeoutError:
            self.log.info("closed a connection whose client stopped reading (CLIENT_SEND_TIMEOUT)")
            return False


def __getattr__(name: str) -> Any:
    if name == "GeventWorker":
        return _gevent_worker()
    raise AttributeError(name)


def _gevent_worker() -> type:
    from gunicorn.workers.ggevent import GeventWorker as _GeventWorker

    class GeventWorker(_GeventWorker):  # type: ignore[misc]
        """gunicorn's gevent worker; a client that stops reading closes quietly."""

        def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
            """Serve one request; a send time-out ends the connection."""
            try:
                return super().handle_request(listener_name, req, sock, addr)
            except TimeoutError:
                self.log.info(
                    "closed a connection whose client stopped reading (CLIENT_SEND_TIMEOUT)"
                )
                raise StopIteration from None

    globals()["GeventWorker"] = GeventWorker
    return GeventWorker
