"""The ``model`` label of the request metrics, bounded: clients choose model names."""

from __future__ import annotations

import threading

from providers import Router

#: The label of every model name that is not a known model, a group, or past the bounds below.
OTHER_MODEL = "other"
MAX_MODEL_LABEL = 128
MAX_MODEL_LABELS = 500


class ModelLabels:
    """The ``model`` label: a name some provider lists or a group, else ``other``.

    Clients choose model names (``g4f/<anything>`` always reaches an upstream), so
    a label value must come from the configured side, at most ``MAX_MODEL_LABELS``
    of them per worker, each at most ``MAX_MODEL_LABEL`` characters.
    """

    def __init__(self, router: Router) -> None:
        self._router = router
        self._admitted: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, model: str) -> str:
        """The label value for ``model``."""
        if model in self._admitted:
            return model
        if len(model) > MAX_MODEL_LABEL or not self._router.knows_model(model):
            return OTHER_MODEL
        with self._lock:
            if len(self._admitted) >= MAX_MODEL_LABELS:
                return OTHER_MODEL
            self._admitted.add(model)
        return model
