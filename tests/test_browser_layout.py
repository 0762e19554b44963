"""What a new user sees on a phone and a wide screen: long names, the nav, toasts, the CSP.

Browser tests (Chromium, see conftest) against a live server. A 200-character model
name (the longest the database takes) is assigned to a task, listed under a provider,
recorded in the call log and in the history, and every page must still fit the screen.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Page, expect

from aiconfig import services
from aiconfig.models import CallLog, CallOutcome
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
LONG_MODEL = "gpt-" + "x" * 186 + "-2026-long"
assert len(LONG_MODEL) == 200
PAGES = ["/", "/providers/", "/usage/", "/history/"]
WIDTHS = [390, 1400]


@pytest.fixture(scope="session", autouse=True)
def _orm_beside_playwright() -> Any:
    """The ORM from test code while Playwright's loop runs (see test_browser.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture
def long_name(transactional_db: None) -> str:
    """The long model name everywhere a model name is shown."""
    services.save_provider_model(provider="openai", name=LONG_MODEL, supports_text=True)
    services.update_task_config(task="text", provider="openai", model=LONG_MODEL)
    request_id = uuid.uuid4()
    for attempt, outcome in enumerate((CallOutcome.ERROR, CallOutcome.SUCCESS), start=1):
        CallLog.objects.create(
            request_id=request_id,
            created_at=timezone.now() - timedelta(minutes=5),
            task="text",
            operation="text",
            provider="openai",
            model=LONG_MODEL,
            attempt=attempt,
            outcome=outcome,
            error_kind="timeout" if outcome == CallOutcome.ERROR else "",
            error_message=f"openai/{LONG_MODEL}: no response within 5 s (timed out)"
            if outcome == CallOutcome.ERROR
            else "",
            latency_ms=123456.7,
            input_tokens=1234567,
            output_tokens=7654321,
        )
    return LONG_MODEL


@pytest.fixture
def console(page: Page) -> list[str]:
    """Console errors and CSP reports of the page, as text."""
    messages: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            messages.append(f"{message.text} (at {message.location['url']})")

    page.on("console", record)
    page.on("pageerror", lambda exc: messages.append(str(exc)))
    return messages


def sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("editor-pass-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Tasks", level=1)).to_be_visible()


def settled(page: Page) -> None:
    """HTMX has swapped, settled and wired up new content."""
    expect(
        page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
    ).to_have_count(0)


def overflow(page: Page) -> int:
    """How far the page scrolls sideways (0 when it fits)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def wide(page: Page) -> list[str]:
    """The innermost elements sticking out of the viewport, to say what overflows."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll("body *")].filter((el) => {
                const box = el.getBoundingClientRect();
                return box.right > window.innerWidth + 0.5 && box.width > 0
                    && ![...el.children].some((c) => c.getBoundingClientRect().right
                        > window.innerWidth + 0.5);
            }).slice(0, 8).map((el) => el.tagName + "." + el.className)"""
        )
    )


def within_viewport(page: Page, selector: str) -> bool:
    """True when every match of `selector` lies horizontally inside the viewport."""
    return bool(
        page.evaluate(
            """(selector) => [...document.querySelectorAll(selector)].every((el) => {
                const box = el.getBoundingClientRect();
                return box.width > 0 && box.left >= 0 && box.right <= window.innerWidth;
            })""",
            selector,
        )
    )


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_200_character_model_name_fits_every_page(
    page: Page, live_server: Any, editor: Any, long_name: str, console: list[str], width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url)
    for path in PAGES:
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_text(long_name).first).to_be_attached()
        screenshot(page, f"long-name-{width}-{path.strip('/') or 'tasks'}")
        assert overflow(page) <= 0, f"{path} scrolls sideways at {width} px: {wide(page)}"
        # Wherever the name is cut short, hovering shows all of it (History wraps its text).
        shown = page.locator(f"code:text-is('{long_name}'), code:text-is('openai/{long_name}')")
        assert shown.count() > 0 or path == "/history/"
        for index in range(shown.count()):
            expect(shown.nth(index)).to_have_attribute("title", re.compile(re.escape(long_name)))

    page.goto(f"{live_server.url}/")
    assert within_viewport(page, ".task-card .card-head a.btn")
    page.goto(f"{live_server.url}/usage/")
    if width >= 1400:
        # The numbers beside the long name are on screen (the table needs no sideways scroll).
        assert within_viewport(page, "#usage-routes td.num")
    else:
        # Nine columns do not fit a phone: the table scrolls inside its card, not the page.
        assert within_viewport(page, ".table-scroll")
    assert console == []


def test_a_long_model_name_fits_a_phone_while_editing_and_trying_a_task(
    page: Page,
    live_server: Any,
    editor: Any,
    long_name: str,
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    console: list[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-LAYOUT-0000000000000000-OA77")
    services.update_provider(name="openai", base_url=fake_provider.openai_base_url)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server.url)
    card = page.locator("#task-text")
    card.get_by_text("Try it", exact=True).click()
    card.get_by_label("Prompt for text").fill("hello")
    card.get_by_role("button", name="Run").click()
    expect(card.locator(".try-result")).to_contain_text(f"Answered by openai/{long_name[:20]}")
    screenshot(page, "long-name-390-tasks-try")
    assert overflow(page) <= 0, f"Try it result scrolls sideways: {wide(page)}"

    card.get_by_role("link", name="Edit text").click()
    expect(page.locator("#id_text-model")).to_have_value(long_name)
    settled(page)
    screenshot(page, "long-name-390-tasks-edit")
    assert overflow(page) <= 0, f"the edit form scrolls sideways: {wide(page)}"
    assert within_viewport(page, "#task-text button")
    assert console == []


def test_every_tab_is_on_screen_on_a_phone(
    page: Page, live_server: Any, editor: Any, console: list[str]
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server.url)
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Tasks", "Providers", "Usage", "History", "Admin"):
        expect(nav.get_by_role("link", name=name)).to_be_in_viewport(ratio=1)
    assert within_viewport(page, ".mainnav a")
    nav.get_by_role("link", name="Admin").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def test_toasts_stay_small_in_a_corner_and_go_away(
    page: Page, live_server: Any, editor: Any, long_name: str
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    page.clock.install()
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/usage/")
    for n in range(5):
        page.evaluate(
            """(n) => document.body.dispatchEvent(new CustomEvent("toast", {bubbles: true,
                detail: {message: "Something went wrong " + n, level: "error"}}))""",
            n,
        )
    toasts = page.locator("#toasts .toast")
    # A burst of errors does not pile up into a wall over the table: the newest three stay.
    expect(toasts).to_have_count(3)
    expect(toasts.last).to_contain_text("Something went wrong 4")
    region = page.locator("#toasts").bounding_box()
    assert region is not None
    assert region["width"] <= 380
    assert region["x"] + region["width"] >= 1400 - 40  # bottom right corner
    assert region["y"] + region["height"] >= 900 - 40
    # A click dismisses one; the rest leave on their own.
    toasts.first.click()
    expect(toasts).to_have_count(2)
    page.clock.run_for(10_000)
    expect(toasts).to_have_count(0)


@pytest.mark.parametrize("path", PAGES)
def test_htmx_pages_raise_no_csp_violation(
    page: Page, live_server: Any, editor: Any, console: list[str], path: str
) -> None:
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}{path}")
    # One HTMX action per page (the Usage page has none: its filters are a plain form).
    if path == "/":
        # The user drags the prompt box bigger: the browser gives it a style attribute,
        # which htmx's settling used to copy onto the swapped card (an inline style).
        card = page.locator("#task-text")
        card.get_by_text("Try it", exact=True).click()
        card.get_by_label("Prompt for text").evaluate("(box) => { box.style.height = '9em'; }")
        card.get_by_role("link", name="Edit text").click()
        expect(page.locator("#id_text-provider")).to_be_visible()
    elif path == "/providers/":
        page.locator("#provider-openai").get_by_role("link", name=re.compile("^Edit")).click()
    elif path == "/history/":
        page.get_by_role("link", name="Providers").click()
        expect(page.get_by_role("heading", name="Providers", level=1)).to_be_visible()
    else:
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_role("heading", name="Usage", level=1)).to_be_visible()
    settled(page)
    assert not [m for m in console if "Content Security Policy" in m or "CSP" in m]
    assert console == []
