"""A real redis-server for the tests, on a loopback port chosen at run time."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from bench.upstream import free_port
from tests.fakes.upstream import wait_until


def redis_binary() -> str | None:
    """The redis-server program, if installed."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


def require_redis() -> str:
    """redis-server's path; skips without it, except in CI (``CI=true``), where it fails."""
    import pytest  # here: the benchmark starts Redis too, without pytest

    binary = redis_binary()
    if binary is None:
        message = "no redis-server binary (.ci/run installs it from the distribution)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


class RedisServer:
    """redis-server with no persistence, listening on 127.0.0.1 only; stop and start again
    on the same port."""

    def __init__(self, password: str | None = None, *, binary: str | None = None) -> None:
        self.binary = binary or require_redis()
        self.port = free_port()
        self.password = password
        self.dir = Path(tempfile.mkdtemp(prefix="keyrelay-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        """The STATE_URL that points at this server."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (again) on the same port; returns once it answers PING."""
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        if self.password:
            args += ["--requirepass", self.password]
        with open(self.dir / "redis.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.answers, timeout=10, message="redis-server answering")

    def answers(self) -> bool:
        """True when the server answers a PING."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (its data is gone: nothing is saved)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def command(self, *words: str) -> bytes:
        """Send one command in the inline protocol and return the raw answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            if self.password:
                sock.sendall(f"AUTH {self.password}\r\n".encode())
                sock.recv(64)
            sock.sendall((" ".join(words) + "\r\n").encode())
            return sock.recv(1 << 20)
