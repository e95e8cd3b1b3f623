"""Run the real service under gunicorn on a loopback socket chosen at run time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0


class Gunicorn:
    """A gunicorn master serving ``wsgi:app`` (or ``app``) with the given environment only."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        worker_class: str | None = "gthread",
        python: str = sys.executable,
        app: str | None = None,
        cwd: Path | None = None,
        root: Path = ROOT,
    ) -> None:
        """``cwd``: the working directory (keyrelay's code stays importable from ``root``);
        ``root``: the tree whose code and gunicorn.conf.py run (another checkout, to compare)."""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="gunicorn-", suffix=".log", delete=False
        )
        fd = self._sock.fileno()
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "ENV_FILE": str(Path(self._log.name).with_suffix(".absent")),
            "WEB_CONCURRENCY": "1",
            "THREADS": "8",
            **({"WORKER_CLASS": worker_class} if worker_class else {}),
            "LOG_LEVEL": "info",
            "PYTHONUNBUFFERED": "1",
            # The shipped default store (a state file), but this server's own.
            "STATE_URL": f"sqlite:///{tempfile.mkdtemp(prefix='keyrelay-state-')}/state.db",
            **({"PYTHONPATH": str(root)} if cwd or root != ROOT else {}),
            **env,
        }
        self.process = subprocess.Popen(
            [
                python,
                "-m",
                "gunicorn",
                "-c",
                str(root / "gunicorn.conf.py"),
                "--bind",
                f"fd://{fd}",
                *([app] if app else []),
            ],
            cwd=cwd or root,
            env=full_env,
            pass_fds=[fd],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if self.process.poll() is not None:
                logs = self.logs()
                self.stop()
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{logs}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass  # not accepting yet, or accepted by the socket with no worker up yet
            time.sleep(0.05)
        logs = self.logs()
        self.stop()
        raise RuntimeError(f"gunicorn did not become healthy:\n{logs}")

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request to the service."""
        kwargs.setdefault("timeout", 30)
        return requests.request(method, self.url + path, **kwargs)

    def logs(self) -> str:
        """Everything gunicorn and the app printed."""
        return Path(self._log.name).read_text(errors="replace")

    def stop(self) -> None:
        """Stop gunicorn and release the socket."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._sock.close()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
