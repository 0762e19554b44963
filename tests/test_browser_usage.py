"""The Usage page in Chromium: uPlot charts with axes, legends and hover values, tables,
on a phone and a wide screen, under the strict CSP.

Browser tests (Chromium, see conftest) against a live server, on a week of calls
written directly and summed into the rollup, as a busy install's would be.
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from aiconfig.models import CallLog
from aiconfig.services.rollup import rebuild_rollup
from tests.test_browser_layout import console, overflow, screenshot, sign_in, wide

pytestmark = pytest.mark.browser
__all__ = ["console"]  # the fixture, imported to be used here


@pytest.fixture(scope="session", autouse=True)
def _orm_beside_playwright() -> Any:
    """The ORM from test code while Playwright's loop runs (see test_browser.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture
def week_of_calls(transactional_db: None, editor: Any) -> None:
    """Two tasks on three models over the last week, some failing, some by a user or token."""
    rng = random.Random(11)
    now = timezone.now()
    rows = []
    for _ in range(400):
        request = uuid.uuid4()
        when = now - timedelta(seconds=rng.uniform(0, 6.5 * 86400))
        task = rng.choice(["text", "text", "agent"])
        model = rng.choice(["gpt-4.1", "gpt-4o-mini", "claude-sonnet-4-0"])
        outcome = "success" if rng.random() < 0.93 else "error"
        rows.append(
            CallLog(
                request_id=request,
                created_at=when,
                task=task,
                operation="text",
                provider="anthropic" if model.startswith("claude") else "openai",
                model=model,
                attempt=1,
                outcome=outcome,
                error_kind="provider_error" if outcome == "error" else "",
                latency_ms=rng.lognormvariate(6.5, 0.6),
                input_tokens=rng.randint(50, 2000),
                output_tokens=rng.randint(20, 600),
                cost_usd=Decimal(rng.randint(1000, 90000)) / 10**8,
                source=rng.choice(["code", "ui", "api", "cli"]),
                user=editor if rng.random() < 0.3 else None,
                api_token="billing-app" if rng.random() < 0.2 else "",
            )
        )
    CallLog.objects.bulk_create(rows)
    rebuild_rollup()


def painted(page: Page, selector: str, region: str) -> bool:
    """Whether a chart's canvas has anything drawn in its left (y axis) or bottom (x axis) strip."""
    return bool(
        page.eval_on_selector(
            selector,
            """(canvas, region) => {
                const ctx = canvas.getContext("2d");
                const w = canvas.width, h = canvas.height;
                const top = Math.round(h * 0.85);
                const box = region === "left" ? [0, 0, Math.round(w * 0.08), h]
                                              : [0, top, w, h - top];
                const pixels = ctx.getImageData(...box).data;
                for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) return true;
                return false;
            }""",
            region,
        )
    )


@pytest.mark.parametrize("width", [390, 1400])
def test_the_charts_draw_axes_legends_and_hover_values_and_the_page_fits(
    page: Page,
    live_server: Any,
    week_of_calls: None,
    console: list[str],
    width: int,
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/usage/?period=7d")
    expect(page.locator("#latency-chart canvas")).to_be_visible()
    for chart in ("#cost-chart", "#latency-chart"):
        canvas = page.locator(f"{chart} canvas")
        expect(canvas).to_be_visible()
        assert painted(page, f"{chart} canvas", "left"), f"{chart}: no y axis drawn"
        assert painted(page, f"{chart} canvas", "bottom"), f"{chart}: no x axis drawn"
    # Legends name every task, and every model's p50 and p95.
    cost_legend = page.locator("#cost-chart .u-legend")
    expect(cost_legend).to_contain_text("text")
    expect(cost_legend).to_contain_text("agent")
    expect(page.locator("#latency-chart .u-legend")).to_contain_text("openai/gpt-4.1 p95")
    # Hovering a day shows each task's cost that day in the legend.
    over = page.locator("#cost-chart .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.7)
    expect(cost_legend.locator(".u-value").nth(1)).to_have_text(re.compile(r"^\$\d"))
    page.locator("#latency-chart .u-over").hover()
    expect(page.locator("#latency-chart .u-legend .u-value").nth(1)).to_have_text(
        re.compile(r"\d+(\.\d)? m?s$")
    )
    # The numbers are in tables too.
    page.get_by_text("The numbers").first.click()
    expect(page.locator(".chart-numbers table").first).to_be_visible()
    expect(page.locator("#usage-routes")).to_contain_text("openai/gpt-4.1")
    expect(page.get_by_role("heading", name="By user")).to_be_visible()
    expect(page.locator("body")).to_contain_text("billing-app")
    screenshot(page, f"usage-{width}")
    assert overflow(page) <= 0, f"the Usage page scrolls sideways at {width} px: {wide(page)}"
    assert console == []


def test_a_custom_range_is_chosen_in_the_form_and_a_bad_one_is_explained(
    page: Page, live_server: Any, week_of_calls: None, console: list[str]
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/usage/")
    today = timezone.localdate()
    page.get_by_label("From", exact=True).fill(f"{today:%Y-%m-%d}")
    page.get_by_label("To", exact=True).fill(f"{today - timedelta(days=2):%Y-%m-%d}")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_contain_text("before it starts")
    page.get_by_label("From", exact=True).fill(f"{today - timedelta(days=2):%Y-%m-%d}")
    page.get_by_label("To", exact=True).fill(f"{today:%Y-%m-%d}")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator(".usage-period-note")).to_contain_text(f"{today:%b %-d, %Y}")
    expect(page.locator("#cost-chart canvas")).to_be_visible()
    assert console == []
