"""``STATE_URL``: where key state lives, opened once per worker.

- ``memory://``: in this process only (the default for now).
- ``sqlite:///relative/path`` or ``sqlite:////absolute/path`` (SQLAlchemy's convention):
  shared by every worker on the host, durable across restarts.
- ``redis://[:password@]host:port/db`` (``rediss://`` for TLS): shared by every worker of
  every host pointing at it. An unreachable Redis never stops start-up: local state
  stands in until it answers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from providers.config.env import ConfigError
from providers.config.shape import RoutingConfig
from providers.secrets import redact_url
from providers.state.clientusage import InMemoryClientUsage
from providers.state.contract import (
    CircuitStore,
    ClientStore,
    ClientUsageStore,
    KeyStore,
    MarkStore,
    PinStore,
    RecentStore,
    Tally,
    UsageStore,
)
from providers.state.memory.circuits import InMemoryCircuits
from providers.state.memory.clients import InMemoryClients
from providers.state.memory.keys import InMemoryKeyStore
from providers.state.memory.marks import InMemoryMarks
from providers.state.memory.pins import InMemoryPins
from providers.state.memory.recent import InMemoryRecent
from providers.state.memory.tally import InMemoryTally
from providers.state.memory.usage import InMemoryUsage
from providers.state.sqlite.circuits import SqliteCircuits
from providers.state.sqlite.clients import SqliteClients, SqliteClientUsage
from providers.state.sqlite.events import sqlite_recent, sqlite_tally
from providers.state.sqlite.marks import SqliteMarks
from providers.state.sqlite.pins import SqlitePins

from .fallback import IN_PROCESS, Standby
from .fallbackkeys import FallbackKeyStore
from .sqlite.file import SqliteFile
from .sqlite.keys import SqliteKeyStore
from .sqlite.usage import SqliteUsage
from .statefile import CHECKED, check_state_file, sqlite_path


@dataclass(frozen=True)
class State:
    """Where key state and usage live."""

    keys: KeyStore
    usage: UsageStore
    circuits: CircuitStore
    marks: MarkStore
    #: The last requests served (the operator console).
    recent: RecentStore
    #: Events per name over a window (the console's wrong keys per address).
    tally: Tally
    #: Shared by every worker (and kept across restarts), not per process.
    shared: bool
    #: Whether the shared store answers now (the file's or the link's; memory: always).
    standby: Standby = IN_PROCESS
    #: Where each session's last turn was served (session affinity).
    pins: PinStore = field(default_factory=InMemoryPins)
    #: Client keys as records, with their limits, windows and budgets.
    clients: ClientStore = field(default_factory=InMemoryClients)
    #: Usage per client key, provider, upstream key and day.
    client_usage: ClientUsageStore = field(default_factory=InMemoryClientUsage)


def open_state(config: RoutingConfig) -> State:
    """The stores ``STATE_URL`` names; ``ConfigError`` naming the URL if they cannot be used.

    A state file that cannot be used now (deleted, read-only, full, locked) never stops a
    worker: its stores answer from this process's own state until the file does.
    """
    url = config.state_url
    if url == "memory://":
        kept = InMemoryUsage(config.usage_retention_days)
        stores = (InMemoryKeyStore(), kept, InMemoryCircuits(), InMemoryMarks())
        return State(*stores, InMemoryRecent(), InMemoryTally(), False,
                     client_usage=InMemoryClientUsage(config.usage_retention_days))  # fmt: skip
    path = sqlite_path(url)
    if path is not None:
        if CHECKED not in os.environ:
            check_state_file(url)
        return _sqlite_state(SqliteFile(path, timeout=config.state_timeout), config)
    if url.startswith(("redis://", "rediss://")):
        return _redis_state(config)
    raise ConfigError(
        f"STATE_URL={redact_url(url)!r} is not supported: use memory://, sqlite:///path "
        "or redis://host:port/db"
    )


def _sqlite_state(file: SqliteFile, config: RoutingConfig) -> State:
    """Every store on one connection to the state file (per process)."""
    keys = FallbackKeyStore(SqliteKeyStore(file))
    usage = SqliteUsage(file, retention_days=config.usage_retention_days)
    circuits, marks = SqliteCircuits(file), SqliteMarks(file)
    recent, tally = sqlite_recent(file, file.timeout), sqlite_tally(file, file.timeout)
    pins = SqlitePins(file)
    clients = SqliteClients(file)
    client_usage = SqliteClientUsage(file, retention_days=config.usage_retention_days)
    return State(keys, usage, circuits, marks, recent, tally, True, file.standby, pins,
                 clients, client_usage)  # fmt: skip


def _redis_state(config: RoutingConfig) -> State:
    # Imported here: redis is a tenth of a second to import, and only fleets need it.
    from .redis.clients import RedisClients, RedisClientUsage
    from .redis.keys import RedisKeyStore
    from .redis.link import RedisLink
    from .redis.pins import RedisPins
    from .redis.state import RedisCircuits, RedisMarks, RedisUsage, redis_recent
    from .redis.tally import redis_tally

    link = RedisLink(config.state_url, timeout=config.state_timeout)
    keys = FallbackKeyStore(RedisKeyStore(link))
    usage = RedisUsage(link, retention_days=config.usage_retention_days)
    circuits, marks = RedisCircuits(link), RedisMarks(link)
    recent, tally = redis_recent(link), redis_tally(link)
    pins = RedisPins(link)
    clients = RedisClients(link)
    client_usage = RedisClientUsage(link, retention_days=config.usage_retention_days)
    return State(keys, usage, circuits, marks, recent, tally, True, link.standby, pins,
                 clients, client_usage)  # fmt: skip
