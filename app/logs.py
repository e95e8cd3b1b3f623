"""Log records as one JSON object per line (``LOG_FORMAT=json``, the default) or as text."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from providers import dumps_json

#: Loggers that keyrelay configures; gunicorn keeps its own access and error logs.
OWN_LOGGERS = ("keyrelay", "app", "providers")


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...fields}`` on one line."""

    def __init__(self) -> None:
        super().__init__()
        #: The second last rendered, and its text: a busy worker logs many lines a second.
        self._second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` (and its ``fields`` extra) as one JSON line."""
        data: dict[str, Any] = {
            "ts": f"{self._seconds(int(record.created))}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return dumps_json(data, default=str).decode()

    def _seconds(self, second: int) -> str:
        shown, text = self._second
        if shown != second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return text


class TextFormatter(logging.Formatter):
    """``time level logger: msg key=value ...`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` with its ``fields`` as key=value pairs."""
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in fields.items())
        return line


def configure(level: str, fmt: str) -> None:
    """Send keyrelay's loggers to stderr in ``fmt`` ("json" or "text") at ``level``."""
    # Neither formatter shows where a call was made from, nor its thread or process name:
    # not looking them up saves a stack walk per record (the logging HOWTO's "Optimization";
    # the process id stays, for gunicorn's own lines).
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    for name in OWN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
