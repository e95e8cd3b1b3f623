"""What the harness measures: keyrelay (gthread or gevent), LiteLLM proxy, or the direct path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.gunicorn import ROOT, Gunicorn

from .upstream import free_port, wait_until_answers


def in_project(module: str, function: str, **kwargs: Any) -> Any:
    """``module.function(**kwargs)`` run by the project's Python (which has flask and the
    app; make bench's own environment has LiteLLM instead); its JSON result."""
    code = (
        "import json, sys, importlib; f = getattr(importlib.import_module(sys.argv[1]), "
        "sys.argv[2]); print(json.dumps(f(**json.loads(sys.argv[3]))))"
    )
    done = subprocess.run(
        [PROJECT_PYTHON, "-c", code, module, function, json.dumps(kwargs)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


CLIENT_KEY = "bench-client-key"
LITELLM_KEY = "sk-bench-litellm"
#: The Python that runs keyrelay: the project's environment, not the benchmark's own.
PROJECT_PYTHON = os.environ.get("KEYRELAY_PYTHON") or (
    str(ROOT / ".venv" / "bin" / "python")
    if (ROOT / ".venv" / "bin" / "python").exists()
    else sys.executable
)


@dataclass
class Target:
    """A proxy (or the direct path) under load."""

    name: str
    url: str
    model: str
    headers: dict[str, str]
    cold_start: float = 0.0
    pids: list[int] = field(default_factory=list)
    stop_hook: object = None

    def stop(self) -> None:
        """Stop the process behind this target."""
        stop = getattr(self.stop_hook, "stop", None)
        if callable(stop):
            stop()


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def workers_of(master: int, expected: int, timeout: float = 30.0) -> list[int]:
    """The master's worker pids, once all ``expected`` have been forked.

    The launcher returns at the first healthy answer, which one worker can give
    while the master is still forking the others.
    """
    deadline = time.monotonic() + timeout
    while True:
        pids = children(master)
        if len(pids) >= expected or time.monotonic() > deadline:
            return pids
        time.sleep(0.02)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def direct(upstream_url: str) -> Target:
    """The physical limit: the load generator straight at the fake upstream."""
    return Target("direct", upstream_url + "/chat/completions", "fake-model", {})


#: Logging off: gunicorn's access log and keyrelay's own request lines.
LOGS_OFF = {"ACCESS_LOG": "", "LOG_LEVEL": "warning"}


def keyrelay(
    upstream_url: str,
    *,
    worker_class: str,
    workers: int = 2,
    extra_env: Mapping[str, str] | None = None,
    shipped_logging: bool = False,
    root: Path = ROOT,
    **env: str,
) -> Target:
    """keyrelay under gunicorn in front of the fake upstream (``env`` overrides the defaults).

    ``shipped_logging`` keeps the logging a user gets by default (keyrelay's request line,
    no access log), written to a file; otherwise logging is off. ``root``: the checkout to
    run (another commit's, to compare).
    """
    settings = {
        "PROXY_API_KEY": CLIENT_KEY,
        "FAKE_API_BASE": upstream_url,
        "FAKE_API_KEY": "sk-bench-upstream-key-000000",
        "FAKE_MODELS": "fake-model",
        "WEB_CONCURRENCY": str(workers),
        "THREADS": "16",
        **({} if shipped_logging else LOGS_OFF),
        **(extra_env or {}),
        **env,
    }
    started = time.monotonic()
    server = Gunicorn(settings, worker_class=worker_class, python=PROJECT_PYTHON, root=root)
    cold = time.monotonic() - started
    target = Target(
        f"keyrelay {worker_class}" + (" (shipped logging)" if shipped_logging else ""),
        server.url + "/v1/chat/completions",
        "fake/fake-model",
        {"Authorization": f"Bearer {CLIENT_KEY}"},
        cold,
        stop_hook=server,
    )
    target.pids = workers_of(server.process.pid, workers)
    return target


def floor(upstream_url: str, *, worker_class: str = "gthread", workers: int = 2) -> Target:
    """Flask + requests pass-through (bench/floor_app.py) under keyrelay's gunicorn settings."""
    settings = {
        "FLOOR_UPSTREAM": upstream_url,
        "WEB_CONCURRENCY": str(workers),
        "THREADS": "16",
        **LOGS_OFF,
    }
    started = time.monotonic()
    server = Gunicorn(
        settings, worker_class=worker_class, python=PROJECT_PYTHON, app="bench.floor_app:app"
    )
    target = Target(
        "stack floor" if worker_class == "gthread" else f"stack floor {worker_class}",
        server.url + "/v1/chat/completions",
        "fake-model",
        {},
        time.monotonic() - started,
        stop_hook=server,
    )
    target.pids = workers_of(server.process.pid, workers)
    return target


def litellm_available() -> bool:
    """True when the LiteLLM proxy is installed in this (the benchmark's) environment."""
    return shutil.which("litellm", path=os.path.dirname(sys.executable)) is not None


class LiteLLM:
    """LiteLLM proxy with one OpenAI-compatible deployment pointing at the fake upstream."""

    def __init__(self, upstream_url: str, workers: int = 2) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="keyrelay-bench-litellm-"))
        self.port = free_port()
        (self.dir / "config.yaml").write_text(f"""model_list:
  - model_name: fake-model
    litellm_params:
      model: openai/fake-model
      api_base: {upstream_url}
      api_key: sk-bench-upstream-key-000000
general_settings:
  master_key: {LITELLM_KEY}
litellm_settings:
  telemetry: false
""")
        binary = os.path.join(os.path.dirname(sys.executable), "litellm")
        env = {
            **os.environ,
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "DISABLE_SCHEMA_UPDATE": "true",
            "NO_DOCS": "True",
        }
        self.log = open(self.dir / "litellm.log", "w")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            [
                binary,
                "--config",
                str(self.dir / "config.yaml"),
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
                "--num_workers",
                str(workers),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.dir,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        try:
            wait_until_answers(
                lambda: requests.get(self.url + "/health/liveliness", timeout=2).ok,
                self.process,
                "LiteLLM",
                timeout=180,
            )
        except RuntimeError as exc:
            raise RuntimeError(
                f"{exc}:\n{(self.dir / 'litellm.log').read_text()[-3000:]}"
            ) from None

    def stop(self) -> None:
        """Stop LiteLLM and its workers."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def litellm(upstream_url: str) -> Target:
    """LiteLLM proxy in front of the fake upstream."""
    started = time.monotonic()
    server = LiteLLM(upstream_url)
    cold = time.monotonic() - started
    target = Target(
        "litellm",
        server.url + "/v1/chat/completions",
        "fake-model",
        {"Authorization": f"Bearer {LITELLM_KEY}"},
        cold,
        stop_hook=server,
    )
    target.pids = children(server.process.pid) or [server.process.pid]
    return target


def cpu_seconds(target: Target) -> float:
    """User plus system CPU time used so far by the target's workers and their children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in target.pids:
        for process in (pid, *children(pid)):
            try:
                fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def worker_rss(target: Target) -> float:
    """Mean resident memory per worker (the process and its children), in MB."""
    pids = [p for p in target.pids if Path(f"/proc/{p}").exists()]
    if not pids:
        return 0.0
    total = sum(rss_mb(p) + sum(rss_mb(c) for c in children(p)) for p in pids)
    return total / len(pids)
