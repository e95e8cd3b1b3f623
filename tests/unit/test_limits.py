"""Bounds on what clients and upstreams control: JSON depth, integers, URLs, error bodies."""

from __future__ import annotations

import json

import pytest

from providers.config.env import ConfigError, positive_int
from providers.config.load import load_providers
from providers.secrets import Redactor, redact_url
from providers.upstream import jsonlimits
from providers.upstream.translate import MAX_ERROR_MESSAGE, parse_error_body

KEY = "sk-proj-abcdefghijklmnopqrstuvwx"


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", 1), ("42", 42), ("0", None), ("-1", None), ("\u00b2", None), ("9" * 5000, None),
     ("1.5", None), ("", None), (" 3", None), ("\u0663", None)],
)  # fmt: skip
def test_positive_int_takes_ascii_digits_only(raw: str, value: int | None) -> None:
    assert positive_int(raw) == value


def test_a_superscript_priority_is_a_config_error_not_a_traceback() -> None:
    with pytest.raises(ConfigError, match="PROVIDER_PRIORITY_GROQ"):
        load_providers({"GROQ_API_KEY": "k", "PROVIDER_PRIORITY_GROQ": "\u00b2"})


def test_json_depth_is_bounded_both_ways() -> None:
    assert jsonlimits.loads_bounded(b"[" * 128 + b"]" * 128) is not None
    for depth in (129, 900, 100_000):
        with pytest.raises(jsonlimits.JSONTooDeep):
            jsonlimits.loads_bounded("[" * depth + "]" * depth)
    # Many containers side by side are not deep.
    wide = json.dumps([{"a": [1]} for _ in range(5000)])
    assert len(jsonlimits.loads_bounded(wide)) == 5000


def test_userinfo_in_a_base_url_is_hidden() -> None:
    assert redact_url("http://user:secret@host:8080/v1") == "http://***@host:8080/v1"
    assert redact_url("https://api.example.com/v1") == "https://api.example.com/v1"
    with pytest.raises(ConfigError) as caught:
        load_providers({"X_API_BASE": "ftp://user:secret@host/v1"})
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"error": {"message": f"bad key {KEY}"}}),
        '{"error": {"message": "bad key ' + "".join(f"\\u{ord(c):04x}" for c in KEY) + '"}}',
        '{"error": "bad key ' + KEY.replace("-", "\\u002d") + '"}',
        f"<p>bad key {''.join(f'&#{ord(c)};' for c in KEY)}</p>",
        f"bad key {KEY.replace('-', '%2D')}",
    ],
    ids=["plain", "unicode-escapes", "string-error", "html-entities", "percent"],
)
def test_error_bodies_are_redacted_after_decoding(body: str) -> None:
    details = parse_error_body(body, Redactor([KEY]))
    assert KEY not in json.dumps(details, ensure_ascii=False)
    assert "key-" in details["message"]


def test_error_fields_are_bounded() -> None:
    body = json.dumps({"error": {"message": "m" * 100_000, "type": "t" * 10_000, "x": "y" * 10**6}})
    details = parse_error_body(body, Redactor())
    assert len(details["message"]) == MAX_ERROR_MESSAGE
    assert len(details["type"]) <= 200 and "x" not in details
