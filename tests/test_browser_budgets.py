"""The Budgets page in Chromium: set a budget with HTMX, then see it on Tasks and Usage,
on a phone and a wide screen, with no sideways scroll and no console or CSP errors."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.test_browser import settled, sign_in
from tests.test_budgets import spend

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session", autouse=True)
def _orm_beside_playwright() -> Any:
    """The ORM from test code while Playwright's loop runs (see test_browser.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


def overflow(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


@pytest.mark.parametrize("width", [390, 1400])
def test_an_editor_sets_a_stop_budget_and_sees_it_everywhere(
    page: Page, live_server: Any, editor: Any, width: int
) -> None:
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            errors.append(message.text)

    page.on("console", record)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    spend("text", "45")
    page.goto(f"{live_server.url}/budgets/")
    page.get_by_label("For").select_option("text")
    page.get_by_label("Budget in USD").fill("50")
    page.get_by_label("When spent").select_option("stop")
    page.get_by_role("button", name="Save budget").click()
    settled(page)
    row = page.locator("#budget-text")
    expect(row).to_contain_text("$45.0000 this month (90%)")
    expect(row).to_contain_text("Warning")
    assert overflow(page) <= 0

    page.goto(f"{live_server.url}/")
    expect(page.locator("#task-text .card-budget")).to_contain_text("$45.0000 this month")
    assert overflow(page) <= 0
    page.goto(f"{live_server.url}/usage/")
    expect(page.locator("#budgets #budget-text")).to_contain_text("Warning")
    assert overflow(page) <= 0
    assert errors == []
