"""The benchmark's fake upstream: nginx answering a fixed completion, fast enough never to limit.

``/v1/chat/completions`` answers a fixed OpenAI completion; ``/limited/v1/chat/completions``
answers 429 at once (``Retry-After: 0``) for the failover-cost figure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the benchmark upstream."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
    },
    separators=(",", ":"),
)
#: The native dialects' fixed answers (``/v1/messages``, ``/v1/responses``), of the same text.
MESSAGE = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-bench",
        "content": [{"type": "text", "text": "Hello from the benchmark upstream."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "cache_read_input_tokens": 0, "output_tokens": 7},
    },
    separators=(",", ":"),
)
RESPONSE = json.dumps(
    {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1700000000,
        "status": "completed",
        "model": "gpt-bench",
        "error": None,
        "output": [
            {
                "id": "msg_bench",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": "Hello from the benchmark upstream.",
                     "annotations": []}
                ],
            }
        ],
        "usage": {"input_tokens": 9, "output_tokens": 7, "total_tokens": 16},
    },
    separators=(",", ":"),
)  # fmt: skip
RATE_LIMITED = json.dumps(
    {
        "error": {
            "message": "rate limited",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    },
    separators=(",", ":"),
)


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_binary() -> str | None:
    """The nginx executable, if installed."""
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, message: str = "") -> None:
    """Wait for ``condition`` to hold, or fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {message or condition}")
        time.sleep(0.01)


def wait_until_answers(
    probe: Callable[[], bool], process: subprocess.Popen[Any], what: str, timeout: float = 10.0
) -> None:
    """Wait until ``probe`` succeeds; fail early if ``process`` exits, late after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if probe():
                return
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not answer within {timeout:g} s")


def start_nginx(
    directory: Path, http_body: str, *, connections: int = 256
) -> subprocess.Popen[Any]:
    """Run nginx in the foreground with everything (pid, logs, temp files) under ``directory``.

    ``http_body`` goes inside ``http {}``; the configuration is checked with ``nginx -t`` first.
    """
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
    user = "user root;" if os.geteuid() == 0 else ""  # workers must reach the temp paths
    (directory / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections {connections}; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
{http_body}
}}
""")
    config = ["-c", f"{directory}/nginx.conf", "-p", str(directory)]
    check = subprocess.run([binary, "-t", *config], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(check.stderr)
    return subprocess.Popen(
        [binary, *config, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def answering_server(port: int, locations: str) -> str:
    """The ``http {}`` body of a fake upstream on ``port``: keep-alive without end, bodies of
    any size held in memory, and ``locations`` (nginx ``location`` blocks)."""
    return f"""
    access_log off;
    keepalive_requests 1000000;
    client_max_body_size 0;
    client_body_buffer_size 2m;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
{locations}
    }}
"""


class NginxUpstream:
    """nginx on a loopback port serving the fixed answers."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="keyrelay-bench-upstream-"))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.limited_url = f"http://127.0.0.1:{self.port}/limited/v1"
        escaped = COMPLETION.replace("'", "\\\\'")
        self.process = start_nginx(
            self.dir,
            answering_server(
                self.port,
                f"""
        location = /v1/chat/completions {{
            default_type application/json;
            return 200 '{escaped}';
        }}
        location = /v1/messages {{
            default_type application/json;
            return 200 '{MESSAGE}';
        }}
        location = /v1/responses {{
            default_type application/json;
            return 200 '{RESPONSE}';
        }}
        location = /limited/v1/chat/completions {{
            default_type application/json;
            add_header Retry-After 0 always;
            return 429 '{RATE_LIMITED}';
        }}
""",
            ),
            connections=4096,
        )
        url = self.base_url + "/chat/completions"
        wait_until_answers(lambda: requests.post(url, json={}, timeout=1).ok, self.process, "nginx")

    def stop(self) -> None:
        """Stop nginx."""
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
