"""The WSGI entry point: ``gunicorn wsgi:app`` (``gunicorn.conf.py`` names it)."""

import sys

from app import create_app
from providers import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # A clear line, not a traceback: gunicorn then stops with "Worker failed to boot",
    # and `flask --app wsgi config-check` exits non-zero.
    print(f"keyrelay: invalid configuration: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
