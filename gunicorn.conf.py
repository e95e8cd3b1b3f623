"""gunicorn settings, read from the environment (and ``.env``) so one file serves every deployment.

Run with ``gunicorn -c gunicorn.conf.py`` (``make run`` does). Every value here
has an environment variable, documented in ``.env.example``.
"""

import glob
import os
import shutil
import sys
import tempfile
from typing import Any

from dotenv import load_dotenv

# keyrelay's own modules, wherever gunicorn is started from.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The same reader as every other setting (standard library only: safe in gunicorn's master).
from providers.config.env import ConfigError, env_int, env_str

load_dotenv(os.environ.get("ENV_FILE") or ".env")


def _int(name: str, default: int, minimum: int = 0) -> int:
    try:
        return env_int(os.environ, name, default, minimum=minimum)
    except ConfigError as exc:
        raise SystemExit(f"keyrelay: invalid configuration: {exc}") from None


# Server socket. 127.0.0.1 by default: an unauthenticated proxy stays local
# unless the operator binds wider on purpose.
bind = os.environ.get("BIND", "").strip() or "127.0.0.1:8000"

# Worker processes. gevent (the default): one greenlet per connection, so slow
# or idle clients and long streams cost memory, not a thread each. gthread: a
# pool of THREADS threads per worker, one per connection being served; a client
# that trickles its request head holds a thread, so put nginx in front of it.
# Each worker builds its own router, key state and upstream pools.
workers = _int("WEB_CONCURRENCY", 2, minimum=1)
_WORKER_CLASSES = {"gevent": "workers.GeventWorker", "gthread": "workers.ThreadWorker"}
_worker = env_str(os.environ, "WORKER_CLASS", "gevent")
# keyrelay's subclasses answer gunicorn's own errors (431, 414, ...) in the JSON envelope.
worker_class = _WORKER_CLASSES.get(_worker, _worker)
threads = _int("THREADS", 8, minimum=1)
# A held stream costs a greenlet and two sockets (the client's and the upstream's): 4,096 per
# worker lets 2 workers hold 5,000 agent streams at once (bench/: about 55 KB each).
worker_connections = _int("WORKER_CONNECTIONS", 4096, minimum=1)
# Connections waiting to be accepted (the kernel caps it at net.core.somaxconn): a burst of
# agents opening streams at once is queued, not refused.
backlog = _int("BACKLOG", 4096, minimum=1)

# Timeouts. gthread and gevent workers heartbeat while requests run, so long
# streams are not killed by `timeout`; it only catches a stuck worker.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GRACEFUL_TIMEOUT", 30)
# Seconds an idle connection is kept open. Under gevent it also bounds how long a
# client may take to send a request head (gunicorn's rule), so it cannot be 0 there.
keepalive = _int("KEEPALIVE", 5)
if _worker == "gevent" and keepalive < 1:
    raise SystemExit(
        "keyrelay: KEEPALIVE=0 leaves gevent workers with no time limit on request heads; "
        "use 1 or more"
    )
# Request heads: gunicorn answers 414 / 431 (in the JSON envelope) past these.
limit_request_line = _int("LIMIT_REQUEST_LINE", 8190)
limit_request_field_size = _int("LIMIT_REQUEST_FIELD_SIZE", 16380)

# The app. Never preload: each worker must build its own upstream sessions.
wsgi_app = "wsgi:app"
preload_app = False

# Logging: keyrelay writes one line per request itself (with the model, provider, tier,
# attempts and latency); gunicorn's access log would say the same again, so it is off
# unless ACCESS_LOG names a destination ("-" for stdout). Errors go to stderr.
accesslog = os.environ.get("ACCESS_LOG", "").strip() or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# gunicorn's control socket (for gunicornc): off unless a path is given, so that
# several instances on one host (or the test suite) never fight over the default path.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip() or "gunicorn.ctl"
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()


# Metrics: every worker writes its samples to one directory that /metrics reads
# whole (prometheus_client multiprocess mode). The directory must exist and be
# empty before the workers start, so that numbers from an earlier run never leak in.
def _prepare_metrics_dir() -> None:
    if os.environ.get("KEYRELAY_METRICS_MASTER") == str(os.getpid()):
        return  # a reload (HUP) of this same master: live workers are writing there
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if not path:
        path = tempfile.mkdtemp(prefix="keyrelay-metrics-")
        os.environ["KEYRELAY_METRICS_TEMP"] = path
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.environ["KEYRELAY_METRICS_MASTER"] = str(os.getpid())


_prepare_metrics_dir()


def _raise_open_files(server: Any) -> None:
    """Each connection costs two descriptors; a soft limit of 1,024 (systemd's) would refuse
    the 513th stream. Raise the soft limit up to the hard one, saying so when it is short."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * worker_connections + 256
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        server.log.warning(
            "open files are limited to %d (hard limit): fewer than the %d that "
            "WORKER_CONNECTIONS=%d may use; raise it (ulimit -n, LimitNOFILE=)",
            target, wanted, worker_connections,
        )  # fmt: skip


def on_starting(server: Any) -> None:
    """Before binding: refuse an open proxy on a public address; name ignored variables once."""
    _raise_open_files(server)
    from providers.config.audit import ignored_variables, is_loopback, is_placeholder
    from providers.config.env import parse_bool

    keys = [k for k in os.environ.get("PROXY_API_KEY", "").split(",") if k.strip()]
    weak = not keys or any(is_placeholder(k) for k in keys)
    allowed = parse_bool(os.environ.get("ALLOW_OPEN_PROXY", "")) is True
    public = [a for a in server.cfg.bind if not is_loopback(a)]
    if weak and public and not allowed:
        what = "is not set" if not keys else "is a published placeholder"
        raise SystemExit(
            f"keyrelay: refusing to listen on {', '.join(public)}: PROXY_API_KEY {what}, so "
            "anyone who reaches this address could spend your provider keys. Set PROXY_API_KEY "
            "to a secret (python -c 'import secrets; print(secrets.token_urlsafe(32))'), or "
            "set ALLOW_OPEN_PROXY=true if an open proxy is really what you want."
        )
    if weak:
        server.log.warning(
            "PROXY_API_KEY %s: this proxy is OPEN to anyone who can reach %s",
            "is not set" if not keys else "is a published placeholder",
            ", ".join(server.cfg.bind),
        )
    _prepare_state_file()
    try:
        ignored = ignored_variables(os.environ)
    except ValueError:
        return  # an invalid configuration: the workers stop on it with one clear line
    for item in ignored:
        server.log.warning("ignored %s: %s", item.variable, item.reason)


def _prepare_state_file() -> None:
    """A foreign state file stops start-up here, once; stale leases of a previous run on
    this host (a restarted container reuses pids) are dropped before any worker starts."""
    import time

    from providers.config.env import ConfigError
    from providers.config.shape import DEFAULT_STATE_URL
    from providers.state.statefile import prepare_state_file

    try:
        prepare_state_file(
            os.environ.get("STATE_URL", "").strip() or DEFAULT_STATE_URL, time.time()
        )
    except ConfigError as exc:
        raise SystemExit(f"keyrelay: invalid configuration: {exc}") from None


def child_exit(server: Any, worker: Any) -> None:
    """A worker died: drop its live gauges (in flight, open streams, keys, circuits)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """Remove the metrics directory if it was a temporary one made here."""
    temp = os.environ.get("KEYRELAY_METRICS_TEMP")
    if temp:
        shutil.rmtree(temp, ignore_errors=True)
