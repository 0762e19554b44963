"""The call explorer in a real headless Chromium: list, filter, a call's page, two widths.

Same setup as tests/test_browser.py (a live server in this process, the fake provider,
Playwright's auto-waiting `expect`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from aiconfig import services
from aiconfig.services import calls
from tests.fake_provider import FakeProvider
from tests.test_call_explorer import route

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"


@pytest.fixture(scope="session", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    """Let test code use the ORM while Playwright's loop runs (see tests/test_browser.py)."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def some_calls(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, transactional_db: None
) -> None:
    """A plain call, a call rescued by a fallback, and one on a very long model name."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-CALLSBROWSER-0000000000-OA66")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-CALLSBROWSER-00000000000-AN66")
    services.update_provider(name="openai", base_url=fake_provider.openai_base_url)
    services.update_provider(name="anthropic", base_url=fake_provider.anthropic_base_url)
    route("text", "openai", "gpt-4.1")
    calls.generate_text(prompt="one")
    route("text", "openai", "fail-500", ("anthropic", "claude-3-haiku-20240307"))
    calls.generate_text(prompt="two")
    route("text", "openai", "gpt-4.1-" + "x" * 150)
    calls.generate_text(prompt="three")


def sideways(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill("viewer-pass-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Tasks", level=1)).to_be_visible()


@pytest.mark.parametrize("width", [390, 1400])
def test_list_filter_and_open_a_call(
    page: Page, live_server: Any, viewer: Any, some_calls: None, width: int
) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url)
    page.get_by_role("link", name="Calls").click()
    expect(page.get_by_role("heading", name="Calls", level=1)).to_be_visible()
    rows = page.locator(".calls-table tbody tr")
    expect(rows).to_have_count(3)
    assert sideways(page) == 0
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"calls-{width}.png"), full_page=True)

    page.get_by_label("Outcome").select_option("error")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("anthropic/claude-3-haiku-20240307")
    expect(rows.first).to_contain_text("fallback")
    assert sideways(page) == 0

    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Attempt 2")).to_be_visible()
    expect(page.locator("#attempt-1")).to_contain_text("provider_error")
    expect(page.locator("#attempt-2")).to_contain_text("genai-prices (bundled price data)")
    assert sideways(page) == 0
    page.screenshot(path=str(SCREENSHOTS / f"call-{width}.png"), full_page=True)

    page.get_by_role("link", name="All calls").click()
    page.get_by_label("Since").fill("next week")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("is not a date")).to_be_visible()
    expect(page.get_by_label("Since")).to_have_value("next week")
    assert sideways(page) == 0
    # The 422 of the bad filter is the page's answer, not a script's error.
    assert [m for m in console if "422" not in m] == []
