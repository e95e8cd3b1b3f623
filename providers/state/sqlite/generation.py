"""A word shared by every process of the host, changed after each write of a table: a
process that kept a copy of what it read knows, without a query, whether it is current.

The word lives in a small file beside the state file (``state.db-circuits``), mapped
into memory: reading it is a memory load, not a system call. A writer gives it a new
random value after its transaction commits, so a reader that saw the old value reads
the table again; a write it missed cannot hide behind a value it saw. Where the file
cannot be made (a read-only directory), every read asks the table, as before.
"""

from __future__ import annotations

import logging
import mmap
import os
from contextlib import suppress
from pathlib import Path

log = logging.getLogger(__name__)

WORD = 8


class Generation:
    """The shared word of one table, or None-answering when its file is unusable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        self.open()

    def open(self) -> None:
        """Map the file (again: the state file was replaced); on failure, answer None."""
        self.close()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                # Written, not truncated to size: a mapped hole that a full disk cannot
                # fill would kill the process (SIGBUS) at the first change of the word.
                if os.fstat(fd).st_size < WORD and os.pwrite(fd, bytes(WORD), 0) != WORD:
                    raise OSError(f"{self.path}: short write")
                self._map = mmap.mmap(fd, WORD)
            finally:
                os.close(fd)
        except (OSError, ValueError) as exc:
            log.debug("no shared generation at %s (%s): reads ask the file", self.path, exc)

    def value(self) -> bytes | None:
        """The word now, or None when there is no shared word to trust."""
        shared = self._map
        return None if shared is None else shared[:WORD]

    def bump(self) -> None:
        """Give the word a new value (after a write has committed)."""
        shared = self._map
        if shared is not None:
            with suppress(ValueError):  # closed meanwhile by a reopen
                shared[:WORD] = os.urandom(WORD)

    def close(self) -> None:
        """Unmap the word."""
        shared, self._map = self._map, None
        if shared is not None:
            with suppress(BufferError):
                shared.close()
