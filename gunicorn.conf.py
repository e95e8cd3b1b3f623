"""gunicorn settings, read from the environment (and ``.env``) so one file serves every deployment.

Run with ``gunicorn -c gunicorn.conf.py`` (``make run`` does). Every value here
has an environment variable, documented in ``.env.example``.
"""

import os

from dotenv import load_dotenv

load_dotenv(os.environ.get("ENV_FILE") or ".env")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Server socket. 127.0.0.1 by default: an unauthenticated proxy stays local
# unless the operator binds wider on purpose.
bind = os.environ.get("BIND", "").strip() or "127.0.0.1:8000"

# Worker processes. gthread: a thread pool per worker, one thread per in-flight
# request or open stream. gevent: one greenlet per connection, for many long
# streams. Each worker builds its own router, key state and upstream pools.
workers = _int("WEB_CONCURRENCY", 2)
worker_class = os.environ.get("WORKER_CLASS", "").strip() or "gthread"
threads = _int("THREADS", 8)
worker_connections = _int("WORKER_CONNECTIONS", 1000)

# Timeouts. gthread and gevent workers heartbeat while requests run, so long
# streams are not killed by `timeout`; it only catches a stuck worker.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GRACEFUL_TIMEOUT", 30)
keepalive = _int("KEEPALIVE", 5)

# The app. Never preload: each worker must build its own upstream sessions.
wsgi_app = "wsgi:app"
preload_app = False

# Logging: access and error logs to stdout/stderr.
accesslog = os.environ.get("ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# gunicorn's control socket (for gunicornc): off unless a path is given, so that
# several instances on one host (or the test suite) never fight over the default path.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip() or "gunicorn.ctl"
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
