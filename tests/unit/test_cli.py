"""The operator commands, run through Flask's CLI runner."""

from __future__ import annotations

from pathlib import Path

from app import create_app
from bench.redisserver import RedisServer
from providers.errors import QuotaExhausted

ENV = {
    "PROXY_API_KEY": "client",
    "GROQ_API_KEY_1": "gsk_cli_aaaaaaaaaaaaaaaaaaaa",
    "GROQ_MODELS": "llama-3.3-70b-versatile",
    "G4F_MAIN_API_BASE": "http://127.0.0.1:2/v1",
    "G4F_GROQ_API_BASE": "http://127.0.0.1:3/v1",
    "PROVIDER_PRIORITY_G4F": "4",
}


def test_config_check_lists_providers_with_tiers_and_fingerprints() -> None:
    result = create_app(ENV).test_cli_runner().invoke(args=["config-check"])
    assert result.exit_code == 0, result.output
    assert "2  groq" in result.output and "4  g4f-groq" in result.output
    assert "gsk_cli" not in result.output and "key-" in result.output
    assert "configuration OK" in result.output
    assert "speaks: chat" in result.output


def test_config_check_shows_the_dialects_each_provider_speaks() -> None:
    env = {"PROXY_API_KEY": "client", "ANTHROPIC_API_KEY": "sk-ant-cli-aaaaaaaaaaaa",
           "OPENAI_API_KEY": "sk-cli-bbbbbbbbbbbbbbbb", "LOCAL_API_BASE": "http://l.test/v1",
           "LOCAL_DIALECTS": "messages"}  # fmt: skip
    result = create_app(env).test_cli_runner().invoke(args=["config-check"])
    lines = {line.split()[1]: line for line in result.output.splitlines() if "speaks:" in line}
    assert lines["anthropic"].endswith("speaks: chat,messages")
    assert lines["openai"].endswith("speaks: chat,responses")
    assert lines["local"].endswith("speaks: messages")


def test_config_check_names_the_state_store_without_its_password(
    redis_server: RedisServer,
) -> None:
    redis_server.stop()  # unreachable: keyrelay starts anyway, degraded
    url = f"redis://:hunter2-state-pass@127.0.0.1:{redis_server.port}/0"
    result = create_app({**ENV, "STATE_URL": url}).test_cli_runner().invoke(args=["config-check"])
    assert result.exit_code == 0, result.output
    assert f"state: redis://***@127.0.0.1:{redis_server.port}/0 (degraded)" in result.output
    assert "hunter2" not in result.output


def test_config_check_fails_on_a_broken_group() -> None:
    env = {**ENV, "MODEL_GROUP_X": "nvidia/meta/llama-3.3-70b-instruct"}
    result = create_app(env).test_cli_runner().invoke(args=["config-check"])
    assert result.exit_code == 1
    assert "MODEL_GROUP_X" in result.output


def test_config_check_fails_without_providers() -> None:
    result = create_app({}).test_cli_runner().invoke(args=["config-check"])
    assert result.exit_code == 1


def test_route_prints_the_chain() -> None:
    result = (
        create_app(ENV).test_cli_runner().invoke(args=["route", "groq/llama-3.3-70b-versatile"])
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[3] for line in lines] == ["groq", "g4f-groq", "g4f-main"]


def test_route_unknown_model_fails() -> None:
    result = create_app(ENV).test_cli_runner().invoke(args=["route", "nobody/serves-this"])
    assert result.exit_code == 1


def test_credentials_in_a_base_url_never_reach_the_output() -> None:
    env = {**ENV, "LOCAL_API_BASE": "http://admin:hunter2-secret@127.0.0.1:9/v1"}
    result = create_app(env).test_cli_runner().invoke(args=["config-check"])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "admin" not in result.output
    assert "http://***@127.0.0.1:9/v1" in result.output


def test_config_check_names_ignored_variables_without_their_values() -> None:
    env = {
        **ENV,
        "COHERE_API_KEY_1": "co-secret-value-123456",
        "CHUTES_API_KEY_1": "chutes-secret-value-987",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "PROVIDER_PRIORITY_MISTRAL": "2",
        "ROTATION_MODE_GEMINI": "sequential",
        "GEMINI_CLI_OAUTH_1": "/home/me/.gemini/creds.json",
    }
    result = create_app(env).test_cli_runner().invoke(args=["config-check"])
    assert result.exit_code == 0, result.output  # warnings, not errors
    for name in (
        "COHERE_API_KEY_1",
        "CHUTES_API_KEY_1",
        "OPENAI_BASE_URL",
        "PROVIDER_PRIORITY_MISTRAL",
        "ROTATION_MODE_GEMINI",
        "GEMINI_CLI_OAUTH_1",
    ):
        assert f"warning: ignored {name}:" in result.output
    for value in ("co-secret", "chutes-secret", "sequential", "creds.json", "127.0.0.1:9"):
        assert value not in result.output
    assert "OPENAI_API_BASE" in result.output  # the spelling keyrelay reads


def test_config_check_says_the_client_key_is_a_placeholder() -> None:
    result = (
        create_app({**ENV, "PROXY_API_KEY": "change-me"})
        .test_cli_runner()
        .invoke(args=["config-check"])
    )
    assert "published placeholder" in result.output


def test_route_shows_a_provider_the_operator_excluded() -> None:
    env = {
        **ENV,
        "GROQ_MODELS": "text-embedding-3-small",
        "IGNORE_MODELS_GROQ": "*embedding*",
        "OTHER_API_BASE": "http://127.0.0.1:4/v1",
        "OTHER_API_KEY": "sk-other-eeeeeeeeeeeeeeee",
        "OTHER_MODELS": "text-embedding-3-small",
    }
    result = create_app(env).test_cli_runner().invoke(args=["route", "groq/text-embedding-3-small"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "groq" in lines[0] and "skipped: ignored_by_config" in lines[0]
    assert "IGNORE_MODELS_GROQ" in lines[0]
    assert any("  other  " in line for line in lines[1:])  # the same model elsewhere


def test_keys_lists_fingerprints_and_reset_lifts_a_shared_block(tmp_path: Path) -> None:
    env = {**ENV, "STATE_URL": f"sqlite:///{tmp_path}/state.db"}
    worker = create_app(env)  # a worker that met a quota error
    runtime = worker.extensions["keyrelay"].router.providers["groq"]
    lease = runtime.keys.acquire()
    assert lease is not None
    runtime.keys.record(lease, QuotaExhausted("no credit", upstream_status=402))
    runtime.keys.release(lease)
    operator = create_app(env).test_cli_runner()  # the operator's own process
    listing = operator.invoke(args=["keys"])
    assert listing.exit_code == 0, listing.output
    line = next(x for x in listing.output.splitlines() if x.startswith("groq"))
    assert lease.key_id in line and "exhausted" in line and " default " in line
    assert "gsk_cli" not in listing.output
    reset = operator.invoke(args=["keys", "reset", "groq", lease.key_id])
    assert reset.exit_code == 0 and f"lifted 1: {lease.key_id}" in reset.output
    # Every worker on the state file sees the key usable again.
    assert runtime.keys.counts()["usable"] == 1


def test_keys_reset_refuses_per_process_state() -> None:
    result = create_app(ENV).test_cli_runner().invoke(args=["keys", "reset", "groq"])
    assert result.exit_code == 1 and "STATE_URL=memory://" in result.output
