"""The outbound side's decision tables, one row per case: status -> error, chunk shaping,
the exhausted-chain verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers.errors import (
    CallerError,
    KeyRejected,
    ModelNotServed,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    UpstreamServerError,
)
from providers.routing.answers import chunks_for_client
from providers.routing.attempts import Attempt
from providers.routing.verdict import Facts, verdict
from providers.secrets import Redactor
from providers.upstream.translate import error_for_status


@pytest.mark.parametrize(
    ("status", "body", "kind", "outcome"),
    [
        (400, {"error": {"message": "bad", "param": "temperature"}}, CallerError, "client_error"),
        (401, {"error": {"message": "no"}}, KeyRejected, "auth"),
        (403, {"error": {"message": "no"}}, KeyRejected, "auth"),
        (402, {"error": {"message": "pay"}}, QuotaExhausted, "quota"),
        (429, {"error": {"code": "insufficient_quota"}}, QuotaExhausted, "quota"),
        (429, {"error": {"message": "slow down"}}, RateLimited, "rate_limited"),
        (404, {"error": {"message": "no such model"}}, ModelNotServed, "not_found"),
        (408, {}, UpstreamServerError, "server_error"),
        (500, {"error": {"message": "boom"}}, UpstreamServerError, "server_error"),
        (503, "<html>down</html>", UpstreamServerError, "server_error"),
        (422, {"detail": [{"loc": ["body", "n"], "msg": "bad"}]}, CallerError, "client_error"),
        (400, {"error": {"message": "API_KEY_INVALID"}}, KeyRejected, "auth"),
    ],
)
def test_status_to_error(status: int, body: Any, kind: type[ProviderError], outcome: str) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    error = error_for_status(status, {}, text, Redactor())
    assert type(error) is kind and error.outcome == outcome
    assert error.upstream_status == status


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {"id": "c", "model": "upstream-name", "choices": [
        {"index": 0, "delta": delta, "finish_reason": finish}], **extra}  # fmt: skip


USAGE = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


@pytest.mark.parametrize(
    ("chunks", "include_usage", "usage_chunks"),
    [
        ([chunk("a"), chunk(finish="stop")], True, 0),  # no usage anywhere: none invented
        ([chunk("a"), chunk(finish="stop", usage=USAGE)], True, 1),  # G4F: moved to the end
        ([chunk("a"), chunk(finish="stop", usage=USAGE)], False, 0),  # not asked: dropped
        ([chunk("a"), chunk(finish="stop"), {"id": "c", "choices": [], "usage": USAGE}], True, 1),
        ([chunk("a"), chunk(finish="stop"), {"id": "c", "choices": [], "usage": USAGE}], False, 0),
        (  # usage on the finish chunk and a usage chunk: still once
            [chunk("a"), chunk(finish="stop", usage=USAGE), {"choices": [], "usage": USAGE}],
            True,
            1,
        ),
    ],
)
def test_chunk_shaping(
    chunks: list[dict[str, Any]], include_usage: bool, usage_chunks: int
) -> None:
    shaped = list(chunks_for_client(chunks, model="asked/name", include_usage=include_usage))
    assert all(c["model"] == "asked/name" for c in shaped)
    with_usage = [c for c in shaped if c.get("usage")]
    assert len(with_usage) == usage_chunks
    if with_usage:
        assert with_usage[0] is shaped[-1] and with_usage[0]["choices"] == []


def tried(*outcomes: str) -> list[Attempt]:
    return [
        Attempt(provider=f"p{i}", tier=1, model="m", key="k", outcome=o, status=None, ms=1,
                error=f"{o} happened")
        for i, o in enumerate(outcomes)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("attempts", "skipped", "deadline", "status", "code"),
    [
        (tried("timeout"), set(), True, 504, "deadline_exceeded"),
        (tried("rate_limited", "rate_limited"), {"cooling"}, False, 429, "rate_limit_exceeded"),
        ([], {"busy"}, False, 503, "keys_busy"),
        ([], {"circuit_open", "disabled"}, False, 503, "no_usable_provider"),
        (tried("not_found", "not_found"), set(), False, 404, "model_not_found"),
        (tried("auth", "quota"), set(), False, 502, "upstream_credentials_exhausted"),
        (tried("timeout", "timeout"), set(), False, 504, "upstream_timeout"),
        (tried("timeout", "rate_limited"), set(), False, 502, "upstream_timeout"),
        (tried("server_error", "server_error", "timeout"), set(), False, 502,
         "upstream_server_error"),
        (tried("rate_limited", "auth"), set(), False, 429, "rate_limit_exceeded"),
        (tried("backend_error", "connection"), set(), False, 502, "upstream_connection_error"),
    ],
)  # fmt: skip
def test_exhausted_chain_verdicts(
    attempts: list[Attempt], skipped: set[str], deadline: bool, status: int, code: str
) -> None:
    facts = Facts(
        attempts=attempts,
        skipped=skipped,
        deadline_hit=deadline,
        last_error=None,
        soonest=None,
        report=[],
    )
    error = verdict(facts)
    assert (error.status, error.code) == (status, code)
