"""What a request costs: the shipped price table (``prices.json``, with its date), the
operator's ``MODEL_PRICES``, and nothing for G4F and models no table knows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

from providers.config.catalog import G4F
from providers.config.env import ConfigError

#: The output a request without ``max_tokens`` is reserved for when its model's limit is not
#: known.
DEFAULT_OUTPUT_LIMIT = 8192
_TABLE = Path(__file__).with_name("prices.json")


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens, and the most output tokens one answer can hold."""

    input: float
    cached: float
    output: float
    output_limit: int = DEFAULT_OUTPUT_LIMIT

    def cost(self, prompt: int, completion: int, cached: int) -> float:
        """What these tokens cost, cache reads at their own price."""
        cached = min(cached, prompt)
        paid = (prompt - cached) * self.input + cached * self.cached + completion * self.output
        return paid / 1_000_000


FREE = Price(0.0, 0.0, 0.0)


def _price(values: list[float] | tuple[float, ...], where: str) -> Price:
    if not 3 <= len(values) <= 4 or any(v < 0 for v in values):
        raise ConfigError(f"{where}: a price is input/cached/output[/output limit], each >= 0")
    limit = int(values[3]) if len(values) == 4 and values[3] else DEFAULT_OUTPUT_LIMIT
    return Price(float(values[0]), float(values[1]), float(values[2]), limit)


@cache
def shipped() -> tuple[str, dict[str, Price]]:
    """The shipped table's date and its prices by model pattern."""
    data = json.loads(_TABLE.read_text())
    return data["as_of"], {k: _price(v, k) for k, v in data["models"].items()}


def parse_overrides(raw: str) -> dict[str, Price]:
    """``MODEL_PRICES``: ``model=input/cached/output[/limit],...`` (patterns allowed)."""
    prices = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        model, sep, values = item.partition("=")
        where = f"MODEL_PRICES entry {model.strip()!r}"
        try:
            numbers = [float(v) for v in values.split("/")]
        except ValueError:
            raise ConfigError(f"{where}: prices must be numbers") from None
        if not sep or not model.strip():
            raise ConfigError(f"{where}: write model=input/cached/output[/output limit]")
        prices[model.strip()] = _price(numbers, where)
    return prices


class PriceTable:
    """Prices by model: the operator's first, then the shipped table; longest pattern wins."""

    def __init__(self, overrides: dict[str, Price] | None = None) -> None:
        self.as_of, table = shipped()
        self._ordered = [
            (pattern, price)
            for source in (overrides or {}, table)
            for pattern, price in sorted(source.items(), key=lambda kv: -len(kv[0]))
        ]
        self._found: dict[tuple[str, str], Price] = {}

    def price(self, provider: str, family: str, model: str) -> Price:
        """The price of ``model`` served by ``provider`` (of ``family``); FREE if unknown."""
        found = self._found.get((provider, model))
        if found is not None:
            return found
        found = FREE if family == G4F else self._lookup(model)
        if len(self._found) < 4096:  # models come from configured providers' answers
            self._found[(provider, model)] = found
        return found

    def _lookup(self, model: str) -> Price:
        names = {model, model.rsplit("/", 1)[-1]}
        for pattern, price in self._ordered:
            if any(fnmatchcase(name, pattern) for name in names):
                return price
        return FREE
