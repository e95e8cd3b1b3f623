"""A real redis-server for the tests, on a loopback port chosen at run time."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from pathlib import Path

from bench.upstream import free_port, wait_until


def redis_binary() -> str | None:
    """The redis-server program, if installed."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


def require_redis() -> str:
    """redis-server's path; skips without it, except in CI (``CI=true``), where it fails."""
    binary = redis_binary()
    if binary is not None:
        return binary
    message = "no redis-server binary (.ci/run installs it from the distribution)"
    try:
        import pytest  # only here: the benchmark starts Redis too, and has no pytest
    except ImportError:
        raise RuntimeError(message) from None
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


class RedisServer:
    """redis-server with no persistence, listening on 127.0.0.1 only; stop and start again
    on the same port."""

    def __init__(
        self, password: str | None = None, *, binary: str | None = None, tls: bool = False
    ) -> None:
        self.binary = binary or require_redis()
        self.port = free_port()
        self.password = password
        self.dir = Path(tempfile.mkdtemp(prefix="keyrelay-redis-"))
        self.tls = tls
        if tls:
            self._certificates()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        """The STATE_URL that points at this server (TLS: trusting its own CA)."""
        auth = f":{self.password}@" if self.password else ""
        if self.tls:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.dir}/ca.pem"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _certificates(self) -> None:
        """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=self.dir, check=True, capture_output=True)

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                "/CN=keyrelay test CA", "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
        (self.dir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "1", "-extfile", "san.ext",
                "-out", "server.pem")  # fmt: skip

    def start(self) -> None:
        """Start (again) on the same port; returns once it answers PING."""
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        if self.tls:
            args[1:3] = ["--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(self.dir / "server.pem")]
            args += ["--tls-key-file", str(self.dir / "server.key")]
            args += ["--tls-ca-cert-file", str(self.dir / "ca.pem"), "--tls-auth-clients", "no"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        if self.password:
            args += ["--requirepass", self.password]
        with open(self.dir / "redis.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.answers, timeout=10, message="redis-server answering")

    def answers(self) -> bool:
        """True when the server answers a PING."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
                if not self.tls:
                    raw.sendall(b"PING\r\n")
                    return raw.recv(64).startswith((b"+PONG", b"-NOAUTH"))
                context = ssl.create_default_context(cafile=str(self.dir / "ca.pem"))
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
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
