"""``make demo``: watch a request fall down the ladder, offline, with no keys.

Three simulated upstreams on loopback stand in for real providers:
tier 1 "openai", whose two keys both answer 429; tier 2 "openrouter", which is
down (nothing listens on its port); and a G4F endpoint (tier 5) that answers,
replaying what a real G4F server sends: most models serve, but one ("grok-3")
sits behind a backend's login wall. keyrelay runs under a real gunicorn in front.
"""

from __future__ import annotations

import json
import socket

import requests

from bench.gunicorn import Gunicorn
from tests.fakes.g4f import recorded
from tests.fakes.upstream import FakeUpstream, Hit, Reply

CLIENT_KEY = "demo-client-key"
MESSAGES = [{"role": "user", "content": "Say hello"}]


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def show(title: str, response: requests.Response, text: str) -> None:
    print(f"\n== {title}")
    print(f"   HTTP {response.status_code}", end="")
    if response.ok:
        served, tier = response.headers["X-Provider"], response.headers["X-Provider-Tier"]
        trail = response.headers["X-Attempt-Trail"].split(", ")
        skipped = sum(1 for entry in trail if ":skipped_" in entry)
        passed = f", {skipped} passed over without a request" if skipped else ""
        attempts = response.headers["X-Attempts"]
        noun = "request" if attempts == "1" else "requests"
        print(f"  served by {served} (tier {tier}): {attempts} {noun} sent upstream{passed}")
        print(f"   answer: {text!r}")
        print("   attempt trail:")
        for attempt in response.headers["X-Attempt-Trail"].split(", "):
            print(f"     - {attempt}")
    else:
        error = response.json()["error"]
        print(f"  {error['code']}: {error['message']}")
        print("   attempt trail:")
        for a in error.get("attempts", []):
            status = f" {a['status']}" if a["status"] else ""
            print(f"     - {a['provider']} (tier {a['tier']}): {a['outcome']}{status}")


def streamed_text(response: requests.Response) -> str:
    text = []
    for line in response.iter_lines():
        if line.startswith(b"data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                text.append(choice["delta"].get("content") or "")
    return "".join(text)


def g4f_server(hit: Hit) -> Reply:
    """A G4F server as recorded: grok-3's backend wants a login, every other model answers."""
    if (hit.body or {}).get("model") == "grok-3":
        return recorded("api_puter_chat.txt")
    return recorded("c_s.txt" if (hit.body or {}).get("stream") else "c_ns.txt")


def g4f_models(proxy: Gunicorn, headers: dict[str, str]) -> None:
    """One G4F model failing is set aside alone; the endpoint keeps serving the others."""
    print("\n== G4F: one model behind a backend's login wall, three times")
    for _ in range(3):
        body = {"model": "g4f/grok-3", "messages": MESSAGES}
        response = proxy.request("POST", "/v1/chat/completions", json=body, headers=headers)
        error = response.json()["error"]
        print(f"   HTTP {response.status_code}  {error['code']}: {error['message'][:60]}")
    body = {"model": "g4f/grok-3", "messages": MESSAGES}
    response = proxy.request("POST", "/v1/chat/completions", json=body, headers=headers)
    print(f"   a 4th time: HTTP {response.status_code}, grok-3 is set aside, G4F is not asked")
    body = {"model": "g4f/gpt-4o-mini", "messages": MESSAGES}
    response = proxy.request("POST", "/v1/chat/completions", json=body, headers=headers)
    show("g4f/gpt-4o-mini meanwhile", response, response.json()["choices"][0]["message"]["content"])
    listing = proxy.request("GET", "/v1/providers", headers=headers).json()["data"]
    main = next(p for p in listing if p["provider"] == "g4f-main")
    print(f"   g4f-main: circuit {main['circuit']}, models set aside {main['models_set_aside']}")


def main() -> None:
    openai = FakeUpstream(models=["gpt-4o-mini"])
    openai.default = lambda hit: Reply(status=429, headers={"Retry-After": "60"})
    g4f = FakeUpstream()
    g4f.default = g4f_server
    env = {
        "PROXY_API_KEY": CLIENT_KEY,
        "OPENAI_API_BASE": openai.base_url,
        "OPENAI_API_KEY_1": "sk-demo-openai-key-one-000000",
        "OPENAI_API_KEY_2": "sk-demo-openai-key-two-000000",
        "OPENAI_MODELS": "gpt-4o-mini",
        "OPENROUTER_API_BASE": f"http://127.0.0.1:{closed_port()}/api/v1",
        "OPENROUTER_API_KEY": "sk-or-v1-demo-key-0000000000",
        "OPENROUTER_MODELS": "openai/gpt-4o-mini",
        "G4F_MAIN_API_BASE": g4f.base_url,
        "LOG_LEVEL": "warning",
        "ACCESS_LOG": "",
    }
    print("Starting keyrelay (gunicorn) in front of three simulated upstreams:")
    print(f"  tier 1 openai      {openai.base_url}  (both keys answer 429)")
    print(f"  tier 2 openrouter  {env['OPENROUTER_API_BASE']}  (down)")
    print(f"  tier 5 g4f-main    {g4f.base_url}  (answers)")
    proxy = Gunicorn(env)
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    try:
        body = {"model": "openai/gpt-4o-mini", "messages": MESSAGES}
        response = proxy.request("POST", "/v1/chat/completions", json=body, headers=headers)
        show(
            "a normal request for openai/gpt-4o-mini",
            response,
            response.json()["choices"][0]["message"]["content"] if response.ok else "",
        )

        body = {**body, "stream": True}
        with proxy.request(
            "POST", "/v1/chat/completions", json=body, headers=headers, stream=True
        ) as response:
            show(
                "a streaming request (openai keys now cooling: not even tried)",
                response,
                streamed_text(response),
            )

        response = proxy.request(
            "POST", "/v1/chat/completions", json=body, headers={**headers, "X-Max-Tier": "2"}
        )
        show(
            "the same with X-Max-Tier: 2 (this caller's data must not reach free endpoints)",
            response,
            "",
        )
        g4f_models(proxy, headers)
    finally:
        proxy.stop()
        openai.close()
        g4f.close()


if __name__ == "__main__":
    main()
