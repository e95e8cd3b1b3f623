"""The console in a real headless Chromium (the distribution's), against a real gunicorn."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from bench.gunicorn import ROOT, Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply, wait_until

from .helpers import AUTH, IN_CI, KEY_A, StartGateway, fake_env

pytestmark = pytest.mark.integration

ADMIN = "admin-browser-key-0123456789"


def _binaries() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    message = "no chromium/chromedriver (.ci/run installs them from the distribution)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    binary, driver = _binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        # Nothing but keyrelay: no update checks, sync or other background traffic.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-default-apps",
    ):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))
    chrome.set_page_load_timeout(20)
    yield chrome
    chrome.quit()


def text_of(browser: WebDriver, css: str) -> str:
    """The element's text, read in one step (the live ladder replaces its elements)."""
    script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';"
    return str(browser.execute_script(script, css))


def test_an_operator_sees_cooling_keys_lifts_a_block_and_tries_a_model(
    browser: WebDriver, start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    g4f = FakeUpstream()
    try:
        fake.default = lambda hit: Reply(status=429, headers={"Retry-After": "600"})
        env = fake_env(fake, KEY_A, PROVIDER_PRIORITY_FAKE="1", G4F_MAIN_API_BASE=g4f.base_url)
        gateway = start_gateway({**env, "ADMIN_API_KEY": ADMIN})
        run(browser, gateway)
    finally:
        g4f.close()


def run(b: WebDriver, gateway: Gunicorn) -> None:
    b.get(gateway.url + "/console/")
    assert b.current_url.endswith("/console/login")
    b.find_element(By.ID, "key").send_keys(ADMIN)
    b.find_element(By.ID, "sign-in").click()
    wait_until(lambda: "Tier ladder" in b.page_source, timeout=10)
    assert "1 usable" in text_of(b, "#provider-fake")
    b.execute_script("window.notReloaded = true")

    # A request from elsewhere: tier 1's key answers 429, G4F serves.
    chat = {"model": "fake-model", "messages": [{"role": "user", "content": "Hi"}]}
    served = requests.post(gateway.url + "/v1/chat/completions", json=chat, headers=AUTH)
    assert served.headers["X-Provider"] == "g4f-main"
    wait_until(
        lambda: "1 cooling" in text_of(b, "#provider-fake"), timeout=15, message="the live ladder"
    )
    assert b.execute_script("return window.notReloaded === true")
    assert "1 fell back away" in text_of(b, "#provider-fake")

    b.find_element(By.LINK_TEXT, "Keys").click()
    wait_until(lambda: "Lift block" in b.page_source, timeout=10)
    assert "upstream" in text_of(b, "tbody tr")  # the block came from Retry-After
    b.find_element(By.CSS_SELECTOR, "button.lift").click()
    wait_until(lambda: "Lifted:" in b.page_source, timeout=10)
    assert "usable" in text_of(b, "tbody tr")

    b.find_element(By.LINK_TEXT, "Try it").click()
    wait_until(lambda: "Show the chain" in b.page_source, timeout=10)
    b.find_element(By.ID, "model").send_keys("fake-model")
    b.find_element(By.ID, "show-chain").click()
    wait_until(lambda: "g4f-main" in text_of(b, "#chain"), timeout=10, message="the chain")
    assert text_of(b, "#chain").splitlines()[0].startswith("tier 1 fake")
    b.find_element(By.ID, "prompt").send_keys("Hello?")
    b.find_element(By.ID, "send").click()
    wait_until(
        lambda: (
            text_of(b, "#answer") == "Hello from the fake." and "g4f-main" in text_of(b, "#trail")
        ),
        timeout=15,
        message="the streamed answer and its trail",
    )
    assert "rate_limited 429" in text_of(b, "#trail")  # tier 1 tried first, then G4F

    b.get(gateway.url + "/console/")
    wait_until(lambda: "Tier ladder" in b.page_source, timeout=10)
    if os.environ.get("UPDATE_SCREENSHOT"):  # the README's screenshot
        b.save_screenshot(str(ROOT / "docs" / "console.png"))
    sources = b.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert sources and all(s.startswith(gateway.url + "/") for s in sources), sources

    b.set_window_size(390, 844)
    wide = b.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 1  # a phone-sized screen needs no sideways scrolling
