"""The dashboard in a real headless Chromium against a live server and the fake AI provider.

pytest-playwright drives Debian's Chromium (see `browser_type_launch_args` in
conftest). Assertions use Playwright's auto-waiting `expect`, never sleeps. Each test
saves a screenshot of its page into `screenshots/` (git-ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from aiconfig import selectors, services
from aiconfig.models import ConfigChange, Provider
from aiconfig.services import calls
from tests.fake_provider import FakeProvider, closed_port_url

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
OPENAI_KEY = "sk-proj-BROWSER-000000000000000-OA99"
ANTHROPIC_KEY = "sk-ant-BROWSER-0000000000000000-AN99"


@pytest.fixture(scope="session", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    """Let the test code use the ORM while Playwright's sync API is running.

    Playwright keeps an asyncio loop running in the main thread (the session-wide
    `playwright` fixture starts it, possibly before the test database is created), and
    Django then refuses ORM calls from that thread as "async". The code here is plain
    synchronous test code, so opting out of that guard is safe. Session-scoped and
    autouse so it is set before any session fixture of these tests starts.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def fake_ai(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, transactional_db: None
) -> FakeProvider:
    """OpenAI and Anthropic pointed at the fake server through the services, keys set.

    The live server runs in this process, so it sees the same environment.
    """
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    services.update_provider(name="openai", base_url=fake_provider.openai_base_url)
    services.update_provider(name="anthropic", base_url=fake_provider.anthropic_base_url)
    fake_provider.reset()
    return fake_provider


@pytest.fixture
def shot(page: Page, request: pytest.FixtureRequest) -> Iterator[None]:
    """Save a full-page screenshot when the test ends (passed or failed)."""
    yield
    SCREENSHOTS.mkdir(exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    # From the top, so the sticky header is where it belongs in a full-page capture.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Tasks", level=1)).to_be_visible()


def settled(page: Page) -> None:
    """Wait until HTMX has swapped, settled and wired up (`htmx-added`) new content.

    New elements are in the page a moment before HTMX attaches their triggers; a
    person never notices, a test driver can.
    """
    expect(
        page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
    ).to_have_count(0)


def chain(task: str) -> list[str]:
    selectors.clear_config_cache()
    return [str(step.route) for step in selectors.get_task_config(task=task).chain]


def test_sign_in(page: Page, live_server: Any, editor: Any, shot: None) -> None:
    page.goto(f"{live_server.url}/providers/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/providers/"))
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")

    page.get_by_label("Password").fill("editor-pass-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Providers", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Providers")).to_have_attribute("aria-current", "page")
    # Keyboard users get a skip link first.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()


def test_reassign_text_model_and_fallback_survives_reload_and_takes_effect(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider, shot: None
) -> None:
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    card = page.locator("#task-text")
    card.get_by_role("link", name="Edit text").click()
    settled(page)
    page.locator("#id_text-provider").select_option("anthropic")
    # The model suggestions follow the provider (fetched by HTMX) ...
    expect(
        page.locator("#id_text-model-options option[value='claude-3-haiku-20240307']")
    ).to_have_count(1)
    expect(page.locator("#id_text-model-options option[value='gpt-4.1']")).to_have_count(0)
    # ... while any typed name is still accepted.
    page.locator("#id_text-model").fill("claude-3-haiku-20240307")

    card.get_by_role("button", name="+ Add fallback").click()
    settled(page)
    page.locator("#id_text-fb-0-provider").select_option("openai")
    expect(page.locator("#id_text-fb-0-model-options option[value='gpt-4o-mini']")).to_have_count(1)
    page.locator("#id_text-fb-0-model").fill("gpt-4o-mini")
    page.locator("#id_text-timeout_seconds").fill("45")
    card.get_by_role("button", name="Save changes").click()

    expect(page.locator("#toasts")).to_contain_text(
        "Saved — next call uses anthropic/claude-3-haiku-20240307, then openai/gpt-4o-mini."
    )
    expect(card.locator(".step")).to_have_count(2)
    expect(card.locator(".step").nth(0)).to_contain_text("claude-3-haiku-20240307")
    expect(card.locator(".step").nth(1)).to_contain_text("gpt-4o-mini")

    page.reload()
    card = page.locator("#task-text")
    expect(card.locator(".step").nth(0)).to_contain_text("Anthropic")
    expect(card.locator(".step").nth(0)).to_contain_text("claude-3-haiku-20240307")
    expect(card.locator(".step").nth(1)).to_contain_text("gpt-4o-mini")
    expect(card.locator(".facts")).to_contain_text("45 s")

    # The next call in this process (not the server's) uses the new assignment.
    run = calls.run_task(task="text", prompt="after the edit")
    assert (run.provider, run.model) == ("anthropic", "claude-3-haiku-20240307")
    last = fake_ai.requests[-1]
    assert last.path.endswith("/v1/messages")
    assert last.body is not None
    assert last.body["model"] == "claude-3-haiku-20240307"


def test_reordering_fallbacks_in_the_browser(
    page: Page, live_server: Any, editor: Any, shot: None
) -> None:
    services.update_task_config(
        task="agent",
        fallbacks=[("anthropic", "claude-3-haiku-20240307"), ("openai", "gpt-4o-mini")],
    )
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    card = page.locator("#task-agent")
    card.get_by_role("link", name="Edit agent").click()
    settled(page)
    card.get_by_role("button", name="Move fallback 2 up").click()
    expect(page.locator("#id_agent-fb-0-model")).to_have_value("gpt-4o-mini")
    settled(page)
    card.get_by_role("button", name="Remove fallback 2").click()
    expect(page.locator("#id_agent-fb-1-model")).to_have_count(0)
    settled(page)
    assert chain("agent")[1:] == ["anthropic/claude-3-haiku-20240307", "openai/gpt-4o-mini"]
    card.get_by_role("button", name="Save changes").click()
    expect(page.locator("#toasts")).to_contain_text("then openai/gpt-4o-mini.")
    assert chain("agent") == ["openai/gpt-4.1", "openai/gpt-4o-mini"]


def test_try_it_shows_the_fallback_when_the_primary_fails(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider, shot: None
) -> None:
    services.update_task_config(
        task="text",
        provider="openai",
        model="fail-500",
        fallbacks=[("anthropic", "claude-3-haiku-20240307")],
    )
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    card = page.locator("#task-text")
    card.get_by_text("Try it", exact=True).click()
    card.get_by_label("Prompt for text").fill("Write a tagline for a bakery")
    card.get_by_role("button", name="Run").click()

    result = card.locator(".try-result")
    expect(result).to_contain_text("Answered by anthropic/claude-3-haiku-20240307")
    expect(result).to_contain_text("fallback used")
    expect(result).to_contain_text("Hello from claude-3-haiku-20240307")
    expect(result.locator(".attempt-error")).to_contain_text("openai/fail-500")
    expect(result).to_contain_text(re.compile(r"Latency \d+ ms"))
    expect(card.get_by_role("button", name="Run")).to_be_enabled()


def test_try_it_shows_a_spinner_and_disables_run_while_running(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider, shot: None
) -> None:
    services.update_task_config(task="text", provider="openai", model="slow-1")
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    card = page.locator("#task-text")
    card.get_by_text("Try it", exact=True).click()
    card.get_by_label("Prompt for text").fill("Take your time")
    run = card.get_by_role("button", name="Run")
    run.click()
    # The fake answers after a second: long enough to see the request in flight.
    expect(run).to_be_disabled()
    expect(card.get_by_text("Running through the chain…")).to_be_visible()
    expect(card.locator(".try-result")).to_contain_text("Answered by openai/slow-1")
    expect(run).to_be_enabled()
    expect(card.get_by_text("Running through the chain…")).to_be_hidden()


def test_test_connection_shows_success_and_failure(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider, shot: None
) -> None:
    services.update_provider(name="anthropic", base_url=closed_port_url())
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    page.get_by_role("link", name="Providers").click()

    openai = page.locator("#provider-openai")
    openai.get_by_role("button", name="Test connection to OpenAI").click()
    # The card has two live regions now (Test connection, Refresh models): read the test's.
    result = openai.locator("#test-result-openai")
    expect(result).to_contain_text("Connected")
    expect(result).to_contain_text(re.compile(r"Latency \d+ ms"))

    anthropic = page.locator("#provider-anthropic")
    anthropic.get_by_role("button", name="Test connection to Anthropic").click()
    expect(anthropic.get_by_role("alert")).to_contain_text("Connection failed.")
    expect(page.locator("body")).not_to_contain_text(ANTHROPIC_KEY)


def test_anthropic_for_image_shows_the_error_next_to_the_field_and_saves_nothing(
    page: Page, live_server: Any, editor: Any, shot: None
) -> None:
    changes = ConfigChange.objects.count()
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    card = page.locator("#task-image")
    card.get_by_role("link", name="Edit image").click()
    settled(page)
    page.locator("#id_image-provider").select_option("anthropic")
    # Anthropic lists no image models: the suggestions empty out.
    expect(page.locator("#id_image-model-options option")).to_have_count(0)
    card.get_by_role("button", name="Save changes").click()

    error = page.locator("#id_image-provider_error")
    expect(error).to_contain_text("Anthropic does not generate images")
    expect(page.locator("#id_image-provider")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#toasts")).to_contain_text("Not saved")
    assert ConfigChange.objects.count() == changes
    assert chain("image") == ["openai/dall-e-3"]


def test_read_only_user_cannot_change_anything(
    page: Page, live_server: Any, viewer: Any, fake_ai: FakeProvider, shot: None
) -> None:
    before = (ConfigChange.objects.count(), Provider.objects.filter(enabled=True).count())
    sign_in(page, live_server.url, "viewer", "viewer-pass-123")
    for path in ("/", "/history/", "/providers/"):
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_role("note")).to_contain_text("Read-only.")
        expect(page.get_by_role("link", name=re.compile(r"^Edit"))).to_have_count(0)
        expect(
            page.get_by_role("button", name=re.compile("Revert|Run|Test connection"))
        ).to_have_count(0)
        expect(page.get_by_role("switch")).to_have_count(0)
        expect(page.locator("form[method=post]")).to_have_count(1)  # sign out only

    # The server refuses even a well-formed request the page never offered.
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for url, form in (
        ("/providers/openai/enabled/", {"enabled": "false"}),
        ("/tasks/text/edit/", {"text-provider": "anthropic", "action": "save"}),
        ("/tasks/text/try/", {"try-text-prompt": "hi"}),
    ):
        response = page.request.post(
            f"{live_server.url}{url}",
            form=form,
            headers={"X-CSRFToken": token, "Referer": live_server.url},
        )
        assert response.status == 403
    assert (ConfigChange.objects.count(), Provider.objects.filter(enabled=True).count()) == before
    assert fake_ai.requests == []


def test_a_change_appears_in_history_and_revert_restores_it(
    page: Page, live_server: Any, editor: Any, shot: None
) -> None:
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    page.get_by_role("link", name="Providers").click()
    ollama = page.locator("#provider-ollama")
    ollama.get_by_role("switch", name="Ollama (local) enabled").click()
    expect(ollama.get_by_role("switch")).to_have_attribute("aria-checked", "false")
    assert Provider.objects.get(name="ollama").enabled is False
    change = ConfigChange.objects.order_by("-id").first()
    assert change is not None

    page.get_by_role("link", name="History").click()
    row = page.locator(f"#change-{change.pk}")
    expect(row).to_contain_text("ollama")
    expect(row).to_contain_text("editor via Dashboard")
    expect(row).to_contain_text("enabled True → False")
    row.get_by_text("Before / after").click()
    expect(row.locator("pre").first).to_contain_text('"enabled": true')

    row.get_by_role("button", name=f"Revert… change #{change.pk}").click()
    # Revert asks first and says what it will do; nothing has changed yet.
    confirm = page.locator("#revert-confirm")
    expect(confirm).to_contain_text(f"Reverting #{change.pk} puts provider 'ollama' back")
    assert Provider.objects.get(name="ollama").enabled is False
    confirm.get_by_role("button", name=f"Revert #{change.pk}").click()
    expect(page.locator("#toasts")).to_contain_text(f"Reverted #{change.pk}")
    expect(page.locator(".change").first).to_contain_text(f"Reverts #{change.pk}")
    assert Provider.objects.get(name="ollama").enabled is True

    page.get_by_role("link", name="Providers").click()
    expect(page.locator("#provider-ollama").get_by_role("switch")).to_have_attribute(
        "aria-checked", "true"
    )


@pytest.mark.parametrize("path", ["/", "/providers/", "/usage/", "/history/"])
def test_pages_fit_a_phone_screen(
    page: Page, live_server: Any, editor: Any, path: str, shot: None
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    page.goto(f"{live_server.url}{path}")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0


def test_usage_page_shows_a_call_made_from_try_it(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider, shot: None
) -> None:
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    card = page.locator("#task-text")
    settled(page)
    card.get_by_text("Try it", exact=True).click()
    card.get_by_label("Prompt for text").fill("Count this call")
    card.get_by_role("button", name="Run").click()
    expect(card.locator(".try-result")).to_contain_text("Answered by")
    page.get_by_role("link", name="Usage").click()
    expect(page.locator(".usage-totals")).to_contain_text("Attempts failed")
    expect(page.locator("#usage-routes")).to_contain_text("openai/gpt-4.1")
    expect(page.locator("#cost-chart canvas")).to_be_visible()
