"""The official ``openai`` SDK as the client, with strict response validation on."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply

from .helpers import CLIENT_KEY, KEY_A, KEY_B, StartGateway

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "Hi"}]


_clients: list[openai.OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients(start_gateway: StartGateway) -> Iterator[None]:
    # Depends on start_gateway so that clients close before the servers stop.
    yield
    while _clients:
        _clients.pop().close()  # no idle keep-alive connection holds up gunicorn's shutdown


def sdk(gateway: Gunicorn, key: str = CLIENT_KEY) -> openai.OpenAI:
    """A client that raises on any response that does not match the API's types."""
    client = openai.OpenAI(
        base_url=gateway.url + "/v1", api_key=key, max_retries=0, _strict_response_validation=True
    )
    _clients.append(client)
    return client


def test_completion(gateway: Gunicorn) -> None:
    completion = sdk(gateway).chat.completions.create(model="fake/fake-model", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello from the fake upstream."
    assert completion.model == "fake/fake-model"
    assert completion.usage is not None and completion.usage.total_tokens == 12


def test_streaming_with_usage(gateway: Gunicorn) -> None:
    stream = sdk(gateway).chat.completions.create(
        model="fake/fake-model",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake."
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_raw_response_headers_say_who_served(gateway: Gunicorn) -> None:
    raw = sdk(gateway).chat.completions.with_raw_response.create(
        model="fake/fake-model", messages=MESSAGES
    )
    assert raw.headers["x-provider"] == "fake"


def test_models_and_embeddings(gateway: Gunicorn) -> None:
    client = sdk(gateway)
    assert [m.id for m in client.models.list()] == ["fake/fake-model", "fake/other-model"]
    assert client.models.retrieve("fake/other-model").owned_by == "fake"
    result = client.embeddings.create(model="fake/fake-model", input="hello")
    assert result.data[0].embedding == [0.1, 0.2, 0.3]


def test_wrong_client_key_is_authentication_error(gateway: Gunicorn) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        sdk(gateway, "wrong").chat.completions.create(model="fake/fake-model", messages=MESSAGES)
    assert info.value.code == "invalid_api_key"


def test_bad_input_is_bad_request_with_param(gateway: Gunicorn) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk(gateway).chat.completions.create(
            model="fake/fake-model", messages=MESSAGES, temperature=5
        )
    assert info.value.param == "temperature"


def test_unknown_model_is_not_found(gateway: Gunicorn) -> None:
    with pytest.raises(openai.NotFoundError):
        sdk(gateway).models.retrieve("fake/nope")


def test_exhausted_rate_limits_are_rate_limit_error(gateway: Gunicorn, fake: FakeUpstream) -> None:
    fake.script(KEY_A, Reply(status=429, headers={"Retry-After": "20"}))
    fake.script(KEY_B, Reply(status=429, headers={"Retry-After": "20"}))
    with pytest.raises(openai.RateLimitError) as info:
        sdk(gateway).chat.completions.create(model="fake/fake-model", messages=MESSAGES)
    assert info.value.response.headers["retry-after"] in {"19", "20"}


def test_mid_stream_failure_raises_in_the_sdk(gateway: Gunicorn, fake: FakeUpstream) -> None:
    from tests.fakes.upstream import stream_events

    fake.default = lambda hit: Reply(events=stream_events("m", ["a", "b", "c"]), drop_after=3)
    stream = sdk(gateway).chat.completions.create(
        model="fake/fake-model", messages=MESSAGES, stream=True
    )
    received = []
    with pytest.raises(openai.APIError, match="upstream stream failed"):
        for item in stream:
            received.append(item.choices[0].delta.content)
    assert received == ["", "a", "b"]
