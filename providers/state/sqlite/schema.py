"""The state file's tables, and what an older file is brought up to (each step once)."""

from __future__ import annotations

import sqlite3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    pool TEXT NOT NULL, key TEXT NOT NULL, position INTEGER NOT NULL,
    last_used REAL NOT NULL DEFAULT 0, blocked_until REAL NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT 'usable', strikes INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (pool, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys_by_turn ON keys (pool, last_used, position, blocked_until, strikes);
CREATE INDEX IF NOT EXISTS keys_by_block ON keys (pool, blocked_until, reason);
CREATE TABLE IF NOT EXISTS leases (
    id INTEGER PRIMARY KEY, pool TEXT NOT NULL, key TEXT NOT NULL,
    pid INTEGER NOT NULL, taken REAL NOT NULL, owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS leases_by_key ON leases (pool, key);
CREATE TABLE IF NOT EXISTS marks (
    provider TEXT NOT NULL, model TEXT NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (provider, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS circuits (name TEXT PRIMARY KEY, state TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pins (
    session TEXT PRIMARY KEY, provider TEXT NOT NULL, key TEXT NOT NULL, until REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pins_by_until ON pins (until);
CREATE TABLE IF NOT EXISTS recent (id INTEGER PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tally (id INTEGER PRIMARY KEY, name TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS tally_by_name ON tally (name, at);
CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL, provider TEXT NOT NULL, key TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, provider, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS clients (
    name TEXT PRIMARY KEY, prefix TEXT NOT NULL UNIQUE, entry TEXT NOT NULL,
    window TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS client_usage (
    day TEXT NOT NULL, client TEXT NOT NULL, provider TEXT NOT NULL, key TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0, cost_nanos INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, client, provider, key)
) WITHOUT ROWID;
"""


def create_tables(db: sqlite3.Connection) -> None:
    """Make the tables a new file lacks, and bring an older file's up to date."""
    db.executescript(_SCHEMA)
    _migrate(db)


def _migrate(db: sqlite3.Connection) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(keys)")}
    if "source" not in columns:  # a file written before blocks said where they came from
        db.execute("ALTER TABLE keys ADD COLUMN source TEXT NOT NULL DEFAULT ''")
    columns = {row[1] for row in db.execute("PRAGMA table_info(usage)")}
    if "cached_tokens" not in columns:  # a file written before cache reads were counted
        db.execute("ALTER TABLE usage ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0")
    columns = {row[1] for row in db.execute("PRAGMA table_info(leases)")}
    if "owner" not in columns:  # leases owned by pid alone, before pids could be reused
        db.execute("ALTER TABLE leases ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
    columns = {row[1] for row in db.execute("PRAGMA table_info(clients)")}
    if "window" not in columns:  # a file that kept a client's record and window as one entry
        db.execute("ALTER TABLE clients ADD COLUMN window TEXT NOT NULL DEFAULT ''")
        db.execute(
            "UPDATE clients SET window = COALESCE(json_extract(entry, '$.window'), '{}'),"
            " entry = json_extract(entry, '$.record') WHERE json_extract(entry, '$.record')"
            " IS NOT NULL"
        )
