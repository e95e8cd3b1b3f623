"""The Flask class keyrelay runs: Flask, with its per-call checks of synchronous views and
hooks answered once per function (Flask asks ``iscoroutinefunction`` of every view and
hook on every request: nine ``inspect`` calls a request here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask


class KeyrelayFlask(Flask):
    """Flask, with ``ensure_sync`` remembered per function."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synced: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's answer for ``func``, asked once (views and hooks are registered once)."""
        found = self._synced.get(func)
        if found is None:
            found = super().ensure_sync(func)
            if len(self._synced) < MAX_REMEMBERED:
                self._synced[func] = found
        return found


#: Most functions remembered (views, hooks and error handlers: a few dozen).
MAX_REMEMBERED = 1024
