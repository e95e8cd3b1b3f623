"""Reading how long an upstream asked us to wait."""

from __future__ import annotations

import email.utils

import pytest

from providers.upstream.ratelimit import parse_duration, retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12ms", 0.012),
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("1h2m3.5s", 3723.5),
        ("2.5", 2.5),
        ("", None),
        ("soon", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("headers", "body", "seconds"),
    [
        ({"Retry-After": "30"}, None, 30.0),
        ({"retry-after-ms": "1500", "Retry-After": "30"}, None, 1.5),
        ({"Retry-After": email.utils.formatdate(NOW + 90, usegmt=True)}, None, 90.0),
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, None, 360.0),
        (
            {
                "x-ratelimit-reset-requests": "2s",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-tokens": "6m0s",
                "x-ratelimit-remaining-tokens": "500",
            },
            None,
            2.0,
        ),
        ({"X-RateLimit-Reset": str(int((NOW + 42) * 1000))}, None, 42.0),
        ({}, {"message": "slow down", "retry_after": "10"}, 10.0),
        ({}, {"details": [{"@type": "google.rpc.RetryInfo", "retryDelay": "26s"}]}, 26.0),
        ({}, None, None),
    ],
)
def test_retry_after(
    headers: dict[str, str], body: dict[str, object] | None, seconds: float | None
) -> None:
    result = retry_after(headers, body, now=NOW)
    assert result == pytest.approx(seconds) if seconds is not None else result is None
