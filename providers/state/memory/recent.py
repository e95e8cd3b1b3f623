"""The last requests of this process."""

from __future__ import annotations

import json
from collections import deque

from providers.state.contract import Entry
from providers.upstream.jsonlimits import dumps

#: Requests kept: per process in memory, per host or fleet in a shared store.
MAX_RECENT = 500


#: Largest size of one entry as JSON, in characters (longer trails are cut).
MAX_ENTRY = 8192


def bounded(entry: Entry) -> str:
    """``entry`` as JSON of at most ``MAX_ENTRY`` characters (the trail cut if needed)."""
    text = dumps(entry).decode()
    while len(text) > MAX_ENTRY and entry.get("trail"):
        entry = {**entry, "trail": entry["trail"][: len(entry["trail"]) // 2]}
        text = dumps(entry).decode()
    return text


class InMemoryRecent:
    """The last requests of this process."""

    def __init__(self, size: int = MAX_RECENT) -> None:
        self._entries: deque[str] = deque(maxlen=size)

    def add(self, entry: Entry) -> None:
        """Keep one request (bounded)."""
        self.add_text(bounded(entry))

    def add_text(self, text: str) -> None:
        """Keep one request already encoded by ``bounded``."""
        self._entries.append(text)

    def latest(self, count: int) -> list[Entry]:
        """The newest ``count`` entries, newest first."""
        return [json.loads(text) for text in list(self._entries)[::-1][:count]]
