"""No lost edits, in a real browser: the conflict note, the revert and disable confirmations.

Each test also saves screenshots of the message at desktop (1400px) and phone (390px)
widths into `screenshots/`, and checks that the phone layout does not overflow.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from aiconfig import services
from aiconfig.models import ConfigChange, Provider, TaskType
from tests.test_browser import (  # noqa: F401 (fixtures used by name)
    SCREENSHOTS,
    _orm_beside_playwright,
    chain,
    settled,
    sign_in,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def ada(django_user_model: Any, editor: Any) -> Any:
    """A second editor whose changes the signed-in editor runs into."""
    user = django_user_model.objects.create_user(username="ada", password="ada-pass-123")
    user.user_permissions.set(editor.user_permissions.all())
    return user


def snap(page: Page, name: str, target: str) -> None:
    """Screenshots of `target` (scrolled to the top) at desktop and phone widths."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for label, width in (("desktop", 1400), ("phone", 390)):
        page.set_viewport_size({"width": width, "height": 900})
        # Scrolled to just below the sticky header, so the whole message shows.
        page.locator(target).evaluate(
            "el => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 130)"
        )
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"))
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} overflows a {width}px screen by {overflow}px"
    page.set_viewport_size({"width": 1400, "height": 900})


def test_a_stale_task_save_shows_who_changed_what_and_saves_both_after_review(
    page: Page, live_server: Any, editor: Any, ada: Any
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    card = page.locator("#task-image")
    card.get_by_role("link", name="Edit image").click()
    settled(page)
    # Meanwhile Ada changes the model from another session.
    services.update_task_config(task="image", model="gpt-image-1", user=ada, channel="ui")

    page.locator("#id_image-timeout_seconds").fill("45")
    card.get_by_role("button", name="Save changes").click()
    note = card.locator(".stale-edit")
    expect(note).to_contain_text("since you opened this")
    expect(note).to_contain_text("ada changed primary openai/dall-e-3 → openai/gpt-image-1")
    expect(page.locator("#toasts")).to_contain_text("Not saved")
    # What was typed is still there; the field left alone shows Ada's model.
    expect(page.locator("#id_image-timeout_seconds")).to_have_value("45")
    expect(page.locator("#id_image-model")).to_have_value("gpt-image-1")
    assert chain("image") == ["openai/gpt-image-1"]
    settled(page)
    snap(page, "conflict-task", "#task-image .stale-edit")

    card.get_by_role("button", name="Save changes").click()
    expect(page.locator("#toasts")).to_contain_text("Saved")
    expect(card.locator(".facts")).to_contain_text("45 s")
    assert chain("image") == ["openai/gpt-image-1"]


def test_reverting_a_create_with_a_later_edit_asks_and_names_it(
    page: Page, live_server: Any, editor: Any, ada: Any
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    services.add_task(name="summaries", provider="openai", model="gpt-4o-mini", user=editor)
    created = ConfigChange.objects.order_by("-id").first()
    assert created is not None
    services.update_task_config(task="summaries", timeout_seconds=30, user=ada)
    later = ConfigChange.objects.order_by("-id").first()
    assert later is not None

    sign_in(page, live_server.url, "editor", "editor-pass-123")
    page.get_by_role("link", name="History").click()
    page.locator(f"#change-{created.pk}").get_by_role("button", name="Revert…").click()
    confirm = page.locator("#revert-confirm")
    expect(confirm).to_contain_text(
        f"Reverting #{created.pk} deletes task 'summaries' and with it the later change "
        f"#{later.pk} (timeout 60.0 → 30.0 by ada)."
    )
    assert TaskType.objects.filter(name="summaries").exists()
    settled(page)
    snap(page, "revert-confirm", "#revert-confirm")

    confirm.get_by_role("button", name=f"Revert #{created.pk}").click()
    expect(page.locator("#toasts")).to_contain_text(f"Reverted #{created.pk}")
    assert not TaskType.objects.filter(name="summaries").exists()


def test_disabling_a_provider_in_use_asks_first_and_then_the_tasks_show_errors(
    page: Page, live_server: Any, editor: Any
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, live_server.url, "editor", "editor-pass-123")
    page.get_by_role("link", name="Providers").click()
    card = page.locator("#provider-openai")
    card.get_by_role("switch", name="OpenAI enabled").click()
    panel = card.locator(".confirm-panel")
    expect(panel).to_contain_text("Disable OpenAI? It serves agent, image, text, video-slides.")
    expect(panel).to_contain_text("would have no enabled provider left")
    assert Provider.objects.get(name="openai").enabled is True
    settled(page)
    snap(page, "disable-confirm", "#provider-openai .confirm-panel")

    panel.get_by_role("button", name="Disable OpenAI").click()
    expect(card.get_by_role("switch")).to_have_attribute("aria-checked", "false")
    assert Provider.objects.get(name="openai").enabled is False
    page.get_by_role("link", name="Tasks").click()
    expect(page.locator("#task-image .problem-error")).to_contain_text(
        "Task 'image' has no enabled provider"
    )
