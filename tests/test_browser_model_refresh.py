""" "Refresh models" in a browser: read a provider's list, edit the guesses, add, on any screen.

Chromium (see conftest) against a live server; the providers are the local fake
server, whose Anthropic endpoint offers two models the built-in list lacks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from aiconfig import services
from aiconfig.models import ProviderModel
from tests.fake_provider import FakeProvider
from tests.test_browser import settled, sign_in

pytestmark = pytest.mark.browser

ANTHROPIC_KEY = "sk-ant-BRREFRESH-0000000000000-AN98"


@pytest.fixture(scope="session", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    """The ORM from test code while Playwright's loop runs (see test_browser.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture
def anthropic_fake(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, transactional_db: None
) -> FakeProvider:
    """Anthropic pointed at the fake server, its key set (the live server shares our env)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    services.update_provider(name="anthropic", base_url=fake_provider.anthropic_base_url)
    fake_provider.reset()
    return fake_provider


@pytest.mark.parametrize("width", [390, 1400])
def test_refresh_edit_and_add_selected_fit_the_screen(
    page: Page, live_server: Any, editor: Any, anthropic_fake: FakeProvider, width: int
) -> None:
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            errors.append(message.text)

    page.on("console", record)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    page.get_by_role("link", name="Providers").click()

    card = page.locator("#provider-anthropic")
    card.get_by_role("button", name="Refresh models of Anthropic").click()
    result = card.locator("#refresh-result-anthropic")
    expect(result).to_contain_text("Anthropic offers 2 models; 2 are not listed here.")
    expect(result).to_contain_text("$3 in / $15 out per 1M tokens")
    settled(page)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0

    result.get_by_role("checkbox", name="claude-sonnet-4-5", exact=True).check()
    tools = result.get_by_role("checkbox", name="tools (claude-sonnet-4-5)")
    expect(tools).to_be_checked()  # the guess
    tools.uncheck()  # the editor knows better
    result.get_by_role("button", name="Add selected to Anthropic").click()

    expect(page.locator("#provider-anthropic .model-list")).to_contain_text("claude-sonnet-4-5")
    settled(page)
    model = ProviderModel.objects.get(provider__name="anthropic", name="claude-sonnet-4-5")
    assert (model.supports_text, model.supports_structured, model.supports_tools) == (
        True,
        True,
        False,
    )
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    expect(page.locator("body")).not_to_contain_text(ANTHROPIC_KEY)
    assert errors == []
