"""The playground in a real headless Chromium: live streams side by side, Stop, saved runs, phones.

Same setup as tests/test_browser.py (a live server in this process, the fake provider,
Playwright's auto-waiting `expect`); the fake's `drip-<s>` model streams a word every
<s> seconds, so a slow column can be watched while a fast one has already finished.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from aiconfig import selectors, services
from aiconfig.models import PlaygroundRun
from aiconfig.services import playground
from aiconfig.services.playground import Column, Inputs
from aiconfig.services.playground_inputs import next_turns
from tests.fake_provider import FakeProvider

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
def fake_ai(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, transactional_db: None
) -> FakeProvider:
    """OpenAI and Anthropic pointed at the fake server, keys set (the live server shares env)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-PGBROWSER-00000000000000-OA55")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-PGBROWSER-000000000000000-AN55")
    services.update_provider(name="openai", base_url=fake_provider.openai_base_url)
    services.update_provider(name="anthropic", base_url=fake_provider.anthropic_base_url)
    fake_provider.reset()
    return fake_provider


@pytest.fixture(autouse=True)
def _no_console_errors(page: Page) -> Iterator[None]:
    """Every test here ends with no console error and no uncaught script error (CSP too)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield
    assert errors == []


def run_turns(run: PlaygroundRun) -> list:
    """The turns a "Continue" from `run` would carry."""
    run.refresh_from_db()
    return next_turns(run.turns, run.prompt, run.columns)


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("editor-pass-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Tasks", level=1)).to_be_visible()


def result(page: Page, index: int) -> Any:
    return page.locator(f'[data-column="{index}"]')


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition()


def test_three_columns_stream_side_by_side_one_slow_one_fast_one_failing(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider
) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    sign_in(page, live_server.url)
    page.get_by_role("link", name="Playground").click()
    expect(page.get_by_role("heading", name="Playground", level=1)).to_be_visible()
    # The page opens on the text task; a column runs a model once its Task is cleared.
    page.get_by_label("Task").first.select_option("")
    page.get_by_label("Model").first.fill("openai/drip-0.4")
    page.get_by_role("button", name="Add column").click()
    page.get_by_label("Model").nth(1).fill("openai/gpt-4o-mini")
    page.get_by_role("button", name="Add column").click()
    page.get_by_label("Model").nth(2).fill("anthropic/fail-500")
    expect(page).to_have_url(re.compile(r"model=openai%2Fdrip-0.4&model=openai%2Fgpt-4o-mini"))
    page.get_by_label("Prompt", exact=True).fill("Tell me about sourdough bread")
    page.get_by_role("button", name="Run").click()

    slow = result(page, 0).locator("[data-output]")
    expect(slow).to_contain_text("Hello from")
    # Its first words are on screen while its last one has not arrived yet ...
    assert "bread" not in slow.inner_text()
    # ... and the fast column is already complete, the failing one says why in words.
    expect(result(page, 1)).to_contain_text("Hello from gpt-4o-mini: Tell me about sourdough")
    expect(result(page, 2)).to_contain_text("HTTP 500")
    expect(result(page, 2)).to_contain_text("Failed")
    expect(slow).to_contain_text("Tell me about sourdough bread", timeout=10_000)

    # When every column is done the page is the saved run, with the numbers.
    expect(page).to_have_url(re.compile(r"/playground/runs/\d+/$"))
    expect(result(page, 0)).to_contain_text("Answered by openai/drip-0.4")
    expect(result(page, 1)).to_contain_text("First token")
    expect(result(page, 2)).to_contain_text("anthropic/fail-500 failed (primary)")
    shoot(page, "playground-three-columns")
    # The streaming script and its styles keep to the strict CSP.
    assert console == []


def test_stop_cancels_every_column_and_closes_the_provider_requests(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider
) -> None:
    sign_in(page, live_server.url)
    page.goto(
        f"{live_server.url}/playground/?model=openai/stall-after-first"
        "&model=anthropic/stall-after-first&prompt=Keep+going"
    )
    page.get_by_role("button", name="Run").click()
    expect(result(page, 0).locator("[data-output]")).to_contain_text("Hello")
    expect(result(page, 1).locator("[data-output]")).to_contain_text("Hello")
    page.get_by_role("button", name="Stop").click()

    expect(result(page, 0)).to_contain_text("Stopped")
    expect(result(page, 1)).to_contain_text("Stopped")
    expect(page.get_by_role("link", name=re.compile(r"Open run #\d+"))).to_be_visible()
    wait_for(lambda: fake_ai.disconnects.count("stall-after-first") == 2)
    wait_for(lambda: PlaygroundRun.objects.get().status == PlaygroundRun.Status.STOPPED)
    shoot(page, "playground-stopped")


def test_a_saved_run_reopens_from_its_url_and_runs_again(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider
) -> None:
    run = playground.start_run(
        user=editor,
        inputs=Inputs("Name a bakery", system="One line"),
        columns=[Column(provider="anthropic", model="claude-3-haiku-20240307")],
    )
    playground.execute_run(run=run, user=editor)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/playground/runs/{run.pk}/")
    expect(page.get_by_text(f"Saved run #{run.pk}")).to_be_visible()
    expect(result(page, 0)).to_contain_text("Hello from claude-3-haiku-20240307: Name a bakery")
    expect(page.get_by_label("System prompt")).to_have_value("One line")
    expect(page.get_by_label("Model")).to_have_value("anthropic/claude-3-haiku-20240307")

    page.get_by_role("button", name="Run again").click()
    expect(page).to_have_url(re.compile(rf"/playground/runs/(?!{run.pk}/)\d+/$"))
    expect(result(page, 0)).to_contain_text("Answered by anthropic/claude-3-haiku-20240307")
    assert PlaygroundRun.objects.count() == 2


def test_the_playground_fits_a_phone(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider
) -> None:
    run = playground.start_run(
        user=editor,
        inputs=Inputs("Compare " * 40),
        columns=[Column(task="text"), Column(provider="openai", model="fail-500" + "x" * 150)],
    )
    playground.execute_run(run=run, user=editor)
    # A second turn, and an image column: conversations and pictures must fit too.
    follow = playground.start_run(
        user=editor,
        inputs=Inputs("And " + "again " * 30, turns=tuple(run_turns(run))),
        columns=[Column(task="text"), Column(task="image")],
    )
    playground.execute_run(run=follow, user=editor)
    sign_in(page, live_server.url)
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in (
        ("/playground/?task=text&model=openai/gpt-4o-mini&model=anthropic/claude-3-haiku-20240307",
         "playground-390-page"),
        (f"/playground/runs/{run.pk}/", "playground-390-run"),
        (f"/playground/runs/{follow.pk}/", "playground-390-conversation"),
    ):  # fmt: skip
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_role("heading", name="Playground", level=1)).to_be_visible()
        for summary in page.locator("details.pg-raw summary").all():
            summary.click()  # the raw JSON, open, scrolls inside its box
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        shoot(page, name)
        assert overflow <= 0


def test_promote_a_compared_model_to_a_task_and_see_the_history_entry(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider
) -> None:
    sign_in(page, live_server.url)
    page.goto(
        f"{live_server.url}/playground/?model=anthropic/claude-3-haiku-20240307"
        "&prompt=A+tagline+for+a+bakery"
    )
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/playground/runs/\d+/$"))
    run_id = PlaygroundRun.objects.get().pk
    column = result(page, 0)
    column.get_by_label("Use anthropic/claude-3-haiku-20240307 for task").select_option("text")
    column.get_by_role("button", name="Use for task").click()
    expect(page.locator("#toasts")).to_contain_text(
        "Task text now uses anthropic/claude-3-haiku-20240307"
    )

    page.get_by_role("link", name="History").click()
    expect(page.locator("body")).to_contain_text(f"(from playground run #{run_id})")
    # The entry links to the comparison that justified it.
    page.get_by_role("link", name=f"playground run #{run_id}").click()
    expect(page).to_have_url(re.compile(rf"/playground/runs/{run_id}/$"))
    expect(result(page, 0)).to_contain_text("Answered by anthropic/claude-3-haiku-20240307")
    selectors.clear_config_cache()
    config = selectors.get_task_config(task="text")
    assert (config.provider, config.model) == ("anthropic", "claude-3-haiku-20240307")


def test_a_task_column_falls_back_and_says_so(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider
) -> None:
    services.update_task_config(
        task="text",
        provider="openai",
        model="fail-500",
        fallbacks=[("anthropic", "claude-3-haiku-20240307")],
    )
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/playground/?task=text&prompt=Name+a+bakery")
    page.get_by_role("button", name="Run").click()
    column = result(page, 0)
    expect(column).to_contain_text("Answered by anthropic/claude-3-haiku-20240307 (a fallback)")
    expect(column).to_contain_text("openai/fail-500 failed (primary): could not reach")
    expect(column).to_contain_text("anthropic/claude-3-haiku-20240307 answered (fallback)")
    expect(column.locator("[data-output]")).to_have_text(
        "Hello from claude-3-haiku-20240307: Name a bakery"
    )


def test_structured_output_and_tool_calls_side_by_side(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider
) -> None:
    services.update_task_config(task="agent", provider="openai", model="gpt-4o-mini")
    services.update_task_config(task="video-slides", provider="openai", model="gpt-4.1")
    sign_in(page, live_server.url)
    # The agent column brings example tools; the slides column its schema.
    page.goto(f"{live_server.url}/playground/?task=agent&prompt=Weather+in+Oslo%3F")
    expect(page.get_by_label("Tools (JSON)")).to_have_value(re.compile("get_weather"))
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/playground/runs/\d+/$"))
    expect(result(page, 0)).to_contain_text('Tool call: get_weather({"city": ')

    page.goto(f"{live_server.url}/playground/?task=video-slides&prompt=Owls")
    expect(page.get_by_label("JSON schema")).to_have_value(re.compile("image_prompt"))
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/playground/runs/\d+/$"))
    expect(result(page, 0)).to_contain_text('"image_prompt":')
    expect(result(page, 0)).to_contain_text("Answered by openai/gpt-4.1")
    shoot(page, "playground-structured")


def test_continue_the_conversation_in_every_column(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider
) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    sign_in(page, live_server.url)
    page.goto(
        f"{live_server.url}/playground/?model=openai/drip-0.3"
        "&model=anthropic/claude-3-haiku-20240307&prompt=Name+a+bakery"
    )
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/playground/runs/\d+/$"), timeout=10_000)
    first = PlaygroundRun.objects.get()

    page.get_by_label("Follow-up message").fill("And a cake shop?")
    page.get_by_role("button", name="Continue").click()
    # While the slow column streams its reply, its earlier answer is already in its
    # conversation, under the prompt it answered, with the follow-up below.
    streaming = result(page, 0).get_by_role("list", name="Conversation so far")
    expect(streaming).to_contain_text("Hello from drip-0.3: Name a bakery")
    expect(streaming).to_contain_text("And a cake shop?")
    assert page.url.endswith(f"/playground/runs/{first.pk}/")
    expect(page).to_have_url(re.compile(rf"/playground/runs/(?!{first.pk}/)\d+/$"), timeout=10_000)
    for index, model in enumerate(("drip-0.3", "claude-3-haiku-20240307")):
        column = result(page, index)
        # The earlier turn, with this column's own answer, then the new answer.
        turns = column.get_by_role("list", name="Conversation so far")
        expect(turns).to_contain_text("Name a bakery")
        expect(turns).to_contain_text(f"Hello from {model}: Name a bakery")
        expect(turns).to_contain_text("And a cake shop?")
        expect(column.locator("[data-output]")).to_have_text(
            f"Hello from {model}: And a cake shop?"
        )
    shoot(page, "playground-continued")
    assert console == []


def test_an_image_column_shows_its_images_large_with_a_download_link(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider
) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/playground/?task=image&prompt=A+lighthouse")
    page.get_by_text("Image options").click()
    page.get_by_label("Image size").select_option("1792x1024")
    page.get_by_label("Image quality").select_option("hd")
    page.get_by_label("Images", exact=True).fill("2")
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/playground/runs/\d+/$"))
    column = result(page, 0)
    expect(column.get_by_role("img")).to_have_count(2)
    width = column.get_by_role("img").first.evaluate("img => img.getBoundingClientRect().width")
    assert width > 200  # shown large: as wide as its column
    with page.expect_download() as download:
        column.get_by_role("link", name="Download image 1 of column 1").click()
    assert download.value.suggested_filename.endswith("-column-1-image-1.png")
    shoot(page, "playground-images")
    assert console == []


def test_the_raw_view_opens_and_never_shows_a_key(
    page: Page, live_server: Any, editor: Any, fake_ai: FakeProvider
) -> None:
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/playground/?model=openai/gpt-4o-mini&prompt=Say+hi")
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/playground/runs/\d+/$"))
    column = result(page, 0)
    raw = column.locator("details.pg-raw")
    expect(raw.locator("pre").first).to_be_hidden()
    raw.locator("summary").click()
    expect(raw).to_contain_text('"prompt": "Say hi"')
    expect(raw).to_contain_text('"text": "Hello from gpt-4o-mini: Say hi"')
    html = page.content()
    assert "PGBROWSER" not in html  # neither key (both contain it) is anywhere in the page
