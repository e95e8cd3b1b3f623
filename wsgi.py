"""The WSGI entry point: ``gunicorn wsgi:app`` (``gunicorn.conf.py`` names it)."""

import sys

from app import create_app
from providers import ConfigError

#: gunicorn's Arbiter.WORKER_BOOT_ERROR: the master stops ("Worker failed to boot")
#: instead of respawning a worker that can never start.
EXIT_BOOT_ERROR = 3

try:
    app = create_app()
except ConfigError as exc:
    # One clear line, not a traceback; `flask --app wsgi config-check` exits non-zero too.
    print(f"keyrelay: invalid configuration: {exc}", file=sys.stderr)
    raise SystemExit(EXIT_BOOT_ERROR) from None
