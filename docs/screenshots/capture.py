"""Re-take the README's screenshots from a running app with demo data.

    .venv/bin/python docs/screenshots/capture.py [PAGE ...]
    # PAGE: tasks providers usage playground call budgets (default: all)

Starts the fake provider (tests/fake_provider.py) and a dev server on a throwaway
SQLite database, configures a few tasks and providers, makes some calls (with a
fallback and a failure), then drives Debian's Chromium (CHROMIUM_PATH overrides
/usr/bin/chromium) through the Tasks, Providers and Usage pages and saves 1280 px
wide PNGs next to this file. Nothing leaves this machine.
"""

from __future__ import annotations

import datetime
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
USER, PASSWORD = "maria", "maria-demo-pass-123"


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(fake_openai: str, fake_anthropic: str, local_url: str) -> None:
    """Demo configuration and call history, through the same services the app uses."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.utils import timezone

    from aiconfig import services
    from aiconfig.models import CallLog
    from aiconfig.services import calls

    call_command("migrate", verbosity=0)
    User.objects.create_superuser(USER, password=PASSWORD)
    # The providers the demo calls answer from the fake; the rest keep their real URLs.
    services.update_provider(name="openai", base_url=fake_openai)
    services.update_provider(name="anthropic", base_url=fake_anthropic)
    services.add_provider(
        name="local-vllm",
        label="Local vLLM",
        base_url=local_url,
        self_hosted=True,
        default_text_model="qwen2.5-7b-instruct",
    )
    services.save_provider_model(
        provider="local-vllm",
        name="qwen2.5-7b-instruct",
        supports_text=True,
        supports_structured=True,
        notes="Served on the GPU box",
    )
    services.update_task_config(
        task="agent", provider="anthropic", model="claude-3-opus-20250219",
        fallbacks=[("openai", "gpt-4.1")],
    )  # fmt: skip
    services.update_task_config(task="image", fallbacks=[("openai", "gpt-image-1")])
    services.update_task_config(
        task="text", provider="anthropic", model="claude-3-5-sonnet-20241022",
        fallbacks=[("openai", "gpt-4o-mini")], timeout_seconds=30, max_retries=1,
    )  # fmt: skip
    services.update_task_config(
        task="video-slides", provider="gemini", model="gemini-2.0-flash",
        fallbacks=[("openai", "gpt-4.1")],
    )  # fmt: skip
    services.add_task(
        name="summaries", provider="openai", model="gpt-4o-mini",
        description="Two-line summaries for the newsletter",
    )  # fmt: skip
    for i in range(5):
        calls.generate_text(prompt=f"A tagline for a bakery, take {i}")
    calls.generate_image(prompt="a lighthouse at dawn")
    calls.generate_slides(prompt="Three facts about owls")
    # History for the chart: earlier days, some rate-limited attempts.
    rng = random.Random(4)
    now = timezone.now()
    rows = []
    for day in range(1, 7):
        for _ in range(rng.randint(8, 30)):
            failed = rng.random() < 0.08
            rows.append(
                CallLog(
                    created_at=now - datetime.timedelta(days=day, minutes=rng.randint(0, 600)),
                    task=rng.choice(["text", "text", "agent", "video-slides"]),
                    operation="text",
                    provider="openai" if failed else "anthropic",
                    model="gpt-4.1" if failed else "claude-3-5-sonnet-20241022",
                    attempt=1,
                    outcome="error" if failed else "success",
                    error_kind="rate_limited" if failed else "",
                    error_message="openai: rate limited (HTTP 429)" if failed else "",
                    latency_ms=rng.uniform(300, 1800),
                    input_tokens=rng.randint(20, 400),
                    output_tokens=rng.randint(40, 600),
                    cost_usd=None if failed else round(rng.uniform(0.0005, 0.01), 6),
                    # Who called: code mostly, some from the dashboard, some over the gateway.
                    source=(source := rng.choice(["code", "code", "ui", "api", "cli"])),
                    user=User.objects.get(username=USER) if source == "ui" else None,
                    api_token=rng.choice(["newsletter", "mobile-app"]) if source == "api" else "",
                )
            )
    CallLog.objects.bulk_create(rows)
    # Written around the services, so summed into the usage rollup the way an import is.
    call_command("ai_usage", "rebuild", verbosity=0)


def shoot_tasks(page: Any, base: str) -> None:
    """The Tasks page with a "Try it" result."""
    from playwright.sync_api import expect

    card = page.locator("#task-text")
    card.get_by_text("Try it", exact=True).click()
    card.get_by_label("Prompt for text").fill("A tagline for a neighbourhood bakery")
    card.get_by_role("button", name="Run").click()
    expect(card.locator(".try-result")).to_contain_text("Answered by")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(OUT / "tasks.png"), full_page=True)


def shoot_providers(page: Any, base: str) -> None:
    """The Providers page after a connection test."""
    from playwright.sync_api import expect

    page.goto(f"{base}/providers/")
    local = page.locator("#provider-local-vllm")
    local.get_by_role("button", name="Test connection").click()
    expect(local).to_contain_text("Connected")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(OUT / "providers.png"), full_page=True)


def shoot_usage(page: Any, base: str) -> None:
    """The Usage page, hovering a day of the cost chart."""
    from playwright.sync_api import expect

    page.goto(f"{base}/usage/")
    expect(page.locator("#cost-chart canvas")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    over = page.locator("#cost-chart .u-over")
    box = over.bounding_box()
    if box is not None:
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.8)
    page.screenshot(path=str(OUT / "usage.png"), full_page=True)


def shoot_playground(page: Any, base: str) -> None:
    """A three-column comparison (the text task's chain, a fast model, a failing one),
    continued with a follow-up, one column's raw request and response open."""
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(
        f"{base}/playground/?task=text&model=openai/gpt-4o-mini&model=anthropic/fail-529"
        "&prompt=A+tagline+for+a+neighbourhood+bakery&temperature=0.7&max_tokens=200"
    )
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/playground/runs/\d+/$"))
    first = page.url
    page.get_by_label("Follow-up message").fill("Shorter, please")
    page.get_by_role("button", name="Continue").click()
    expect(page).not_to_have_url(first)
    expect(page).to_have_url(re.compile(r"/playground/runs/\d+/$"))
    page.locator('[data-column="1"] details.pg-raw summary').click()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(OUT / "playground.png"), full_page=True)


def shoot_call(page: Any, base: str) -> None:
    """A call's page: a failed attempt, the fallback that answered, the stored prompt."""
    from django.conf import settings
    from playwright.sync_api import expect

    from aiconfig import services
    from aiconfig.services import calls

    # The ORM beside Playwright's event loop (as tests/test_browser.py does).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    services.update_task_config(
        task="summaries", provider="anthropic", model="fail-529",
        fallbacks=[("openai", "gpt-4o-mini")],
    )  # fmt: skip
    settings.AICONFIG_LOG_PROMPTS = True  # this one call keeps its prompt and response
    calls.generate_text(task="summaries", prompt="Summarise: the bakery opens a second shop")
    settings.AICONFIG_LOG_PROMPTS = False
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/calls/?task=summaries&outcome=error")
    page.locator(".calls-table tbody tr").first.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Attempt 2")).to_be_visible()
    page.screenshot(path=str(OUT / "call.png"), full_page=True)


def shoot_budgets(page: Any, base: str) -> None:
    """The Budgets page: budgets set from the CLI, a rule, the alerts it sent."""
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (
        ["ai_usage", "rebuild"],  # the demo history was bulk-inserted around the rollup
        ["ai_budget", "set", "--task", "text", "--monthly", "0.03", "--action", "stop"],
        ["ai_budget", "set", "--task", "agent", "--weekly", "0.02"],
        ["ai_budget", "set", "--monthly", "40", "--warn-at", "90"],
        ["ai_alerts", "rule", "text-errors", "--task", "text", "--metric", "failure_rate",
         "--above", "10", "--window", "60"],
        ["ai_alerts", "rule", "slow", "--metric", "p95_latency", "--above", "8000"],
        ["ai_alerts", "check"],
    ):  # fmt: skip
        subprocess.run([*manage, *command], check=True, capture_output=True)
    page.goto(f"{base}/budgets/")
    page.screenshot(path=str(OUT / "budgets.png"), full_page=True)


PAGES = {
    "tasks": shoot_tasks,
    "providers": shoot_providers,
    "usage": shoot_usage,
    "playground": shoot_playground,
    "call": shoot_call,
    "budgets": shoot_budgets,
}


def shoot(base: str, pages: list[str]) -> None:
    """Sign in and capture each of `pages` (every page when empty)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/login/")
        page.get_by_label("Username").fill(USER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        for name in pages or PAGES:
            PAGES[name](page, base)
        browser.close()


def main() -> None:
    """Fake provider, demo data, dev server, screenshots; then clean up."""
    pages = sys.argv[1:]
    unknown = set(pages) - set(PAGES)
    if unknown:
        sys.exit(f"Unknown page(s): {', '.join(sorted(unknown))}; choose from {', '.join(PAGES)}")
    sys.path.insert(0, str(ROOT))
    from tests.fake_provider import FakeProvider

    workdir = Path(tempfile.mkdtemp(prefix="aiconfig-shots-"))
    port = free_port()
    with FakeProvider() as fake:
        env = {
            "DJANGO_SETTINGS_MODULE": "aiconfig.settings",
            "DEBUG": "1",
            "AICONFIG_ENV_FILE": str(workdir / "none.env"),
            "DATABASE_URL": f"sqlite:///{workdir / 'demo.sqlite3'}",
            # Demo keys for the fake server (only their last four characters show).
            "OPENAI_API_KEY": "demo-openai-key-000000000q7Fk",
            "ANTHROPIC_API_KEY": "demo-anthropic-key-00000x2Lm",
        }
        os.environ.update(env)
        seed(fake.openai_base_url, fake.anthropic_base_url, fake.openai_base_url)
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "runserver", f"127.0.0.1:{port}",
             "--noreload"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(600):  # up to a minute: a busy machine starts slowly
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.1)
            shoot(f"http://127.0.0.1:{port}", pages)
        finally:
            server.terminate()
            server.wait()
    print(f"Saved {', '.join(f'{name}.png' for name in pages or PAGES)} in {OUT}")


if __name__ == "__main__":
    main()
