"""bench.sizes: what each case sends where, and the slope it reports (no timing here)."""

from __future__ import annotations

import json

from app.dialects.anthropic.schema import messages_schema
from app.dialects.chat.schema import chat_schema
from app.dialects.responses.schema import responses_schema
from bench import sizes


def test_each_sized_request_is_valid_in_its_dialect_and_about_its_size() -> None:
    schemas = {"chat": chat_schema, "messages": messages_schema, "responses": responses_schema}
    for dialect, schema in schemas.items():
        for kb in sizes.SIZES_KB:
            body = sizes.sized_request(dialect, "m", kb)
            assert schema.validate(body) == {}
            assert 0.9 * kb * 1000 < len(json.dumps(body)) < 1.2 * kb * 1000 + 200


class _Upstream:
    base_url = "http://up/v1"

    def answers_url(self, kb: int) -> str:
        return f"http://up/a{kb}/v1"


def test_translated_cases_go_direct_as_chat_and_native_ones_in_their_own_dialect() -> None:
    cases = sizes._cases("http://kr", _Upstream())  # type: ignore[arg-type]
    assert len(cases) == 2 * len(sizes.PATHS) * len(sizes.SIZES_KB)
    by_key = {
        key: (url, body, direct, direct_body) for key, url, body, direct, direct_body in cases
    }
    url, body, direct, direct_body = by_key[("request", "messages translated", 100)]
    assert url == "http://kr/v1/messages" and direct == "http://up/v1/chat/completions"
    assert "max_tokens" in body and direct_body["model"] == "fake-model"
    url, body, direct, _ = by_key[("answer", "responses native", 1000)]
    assert direct == "http://up/a1000/v1/responses" and body["model"] == "a1000resp/fake-model"
    _, _, direct, _ = by_key[("answer", "chat completions", 10)]
    assert direct == "http://up/a10/v1/chat/completions"


def test_the_slope_runs_from_the_smallest_size_to_the_largest() -> None:
    rounds = {1: [1.0, 1.2, 1.1], 10: [1.5], 100: [2.0], 1000: [4.1, 4.0, 3.9]}
    out = sizes.summary({"request": {"chat completions": rounds}, "answer": {}})
    row = out["request"]["chat completions"]
    assert row["overhead_ms"][1] == 1.1 and row["overhead_ms"][1000] == 4.0
    assert abs(row["us_per_kb"] - (4.0 - 1.1) * 1000 / 999) < 1e-9
