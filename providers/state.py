"""``STATE_URL``: where key state lives, opened once per worker.

- ``memory://``: in this process only (the default for now).
- ``sqlite:///relative/path`` or ``sqlite:////absolute/path`` (SQLAlchemy's convention):
  shared by every worker on the host, durable across restarts.
"""

from __future__ import annotations

import sqlite3

from .config import RoutingConfig
from .env import ConfigError
from .keystore import InMemoryKeyStore, KeyStore
from .secrets import redact_url
from .sqlstore import SqliteKeyStore


def open_store(config: RoutingConfig) -> KeyStore:
    """The key store ``STATE_URL`` names; ``ConfigError`` naming the URL if it cannot be used."""
    url = config.state_url
    if url == "memory://":
        return InMemoryKeyStore()
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")  # "/abs" for sqlite:////abs
        if not path or path == "/":
            raise ConfigError(f"STATE_URL={url!r} names no file")
        try:
            return SqliteKeyStore(path, timeout=config.state_timeout)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"STATE_URL: cannot use the state file {path!r}: {exc}") from None
        except sqlite3.DatabaseError as exc:  # a corrupt or foreign file
            raise ConfigError(f"STATE_URL: {path!r} is not a usable SQLite file: {exc}") from None
    raise ConfigError(
        f"STATE_URL={redact_url(url)!r} is not supported: use memory:// or sqlite:///path"
    )
