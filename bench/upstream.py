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
from pathlib import Path

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


class NginxUpstream:
    """nginx on a loopback port serving the fixed answers."""

    def __init__(self) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        self.dir = Path(tempfile.mkdtemp(prefix="keyrelay-bench-upstream-"))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.limited_url = f"http://127.0.0.1:{self.port}/limited/v1"
        user = "user root;" if os.geteuid() == 0 else ""
        escaped = COMPLETION.replace("'", "\\\\'")
        (self.dir / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        location = /v1/chat/completions {{
            default_type application/json;
            return 200 '{escaped}';
        }}
        location = /limited/v1/chat/completions {{
            default_type application/json;
            add_header Retry-After 0 always;
            return 429 '{RATE_LIMITED}';
        }}
    }}
}}
""")
        self.process = subprocess.Popen(
            [binary, "-c", f"{self.dir}/nginx.conf", "-p", str(self.dir), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                requests.post(self.base_url + "/chat/completions", json={}, timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("the nginx upstream did not start")

    def stop(self) -> None:
        """Stop nginx."""
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
