"""Sign-in lockout (django-axes): an attacker guessing passwords, and everyone else."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "right-horse-battery-staple"
ATTACKER_IP = "203.0.113.66"
LIMIT = 10  # AXES_FAILURE_LIMIT's default
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Dozens of password checks per test: a cheap hasher keeps them quick (tests only)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    """A staff user (so the admin sign-in accepts her too)."""
    return django_user_model.objects.create_user(username="alice", password=PASSWORD, is_staff=True)


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    """Another user, whom nobody is attacking."""
    return django_user_model.objects.create_user(username="bob", password="bob-pass-7391")


def client_from(ip: str) -> Client:
    """A browser at this address (axes locks a username per client address)."""
    return Client(REMOTE_ADDR=ip)


def sign_in(client: Client, password: str, *, username: str = "alice", url: str = "/login/"):
    """Post the sign-in form as a person would."""
    return client.post(url, {"username": username, "password": password})


def is_signed_in(client: Client) -> bool:
    """The dashboard opens (no redirect to the sign-in page)."""
    return client.get("/").status_code == 200


def guess(client: Client, count: int, **kwargs: Any) -> list[int]:
    """`count` wrong passwords; the status of each answer."""
    return [sign_in(client, f"guess-{n}", **kwargs).status_code for n in range(count)]


def assert_lockout_page(response: Any) -> None:
    page = response.content.decode()
    assert response.status_code == 429
    assert "Sign-in locked" in page
    assert "Try again in 15 minutes" in page
    assert "administrator" in page
    assert "Traceback" not in page


@pytest.mark.parametrize("url", ["/login/", "/admin/login/?next=/admin/"])
def test_ten_wrong_passwords_lock_out_even_the_right_one(alice: Any, url: str) -> None:
    attacker = client_from(ATTACKER_IP)
    statuses = guess(attacker, LIMIT, url=url)
    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, with its error
    assert statuses[-1] == 429

    response = sign_in(attacker, PASSWORD, url=url)
    assert_lockout_page(response)
    assert not is_signed_in(attacker)
    assert attacker.get("/admin/").status_code == 302  # to the admin sign-in


def test_lockout_page_follows_the_csp_and_names_the_user(alice: Any) -> None:
    attacker = client_from(ATTACKER_IP)
    guess(attacker, LIMIT, username="alice<script>")
    response = sign_in(attacker, PASSWORD, username="alice<script>")
    page = response.content.decode()
    assert response.status_code == 429
    assert "alice&lt;script&gt;" in page
    assert "<script>" not in page  # no inline script: only nonce'd files
    assert "script-src 'self' 'nonce-" in response["Content-Security-Policy"]


def test_the_same_user_elsewhere_and_other_users_here_still_sign_in(alice: Any, bob: Any) -> None:
    guess(client_from(ATTACKER_IP), LIMIT + 2)

    elsewhere = client_from("198.51.100.7")
    assert sign_in(elsewhere, PASSWORD).status_code == 302
    assert is_signed_in(elsewhere)

    colleague = client_from(ATTACKER_IP)
    assert sign_in(colleague, "bob-pass-7391", username="bob").status_code == 302
    assert is_signed_in(colleague)


@pytest.mark.parametrize(
    "command", [("axes_reset",), ("axes_reset_username", "alice")], ids=lambda c: c[0]
)
def test_the_reset_commands_in_the_readme_lift_the_lock(alice: Any, command: tuple) -> None:
    client = client_from(ATTACKER_IP)
    guess(client, LIMIT)
    assert sign_in(client, PASSWORD).status_code == 429

    call_command(*command, stdout=io.StringIO())

    assert sign_in(client, PASSWORD).status_code == 302
    assert is_signed_in(client)


def test_a_successful_sign_in_forgives_earlier_typos(alice: Any) -> None:
    client = client_from(ATTACKER_IP)
    assert guess(client, LIMIT - 1) == [200] * (LIMIT - 1)
    assert sign_in(client, PASSWORD).status_code == 302
    client.post("/logout/")

    assert guess(client, LIMIT - 1) == [200] * (LIMIT - 1)  # counting from zero again
    assert sign_in(client, PASSWORD).status_code == 302


def test_guessed_passwords_are_not_kept_in_the_attempt_log_or_logs(
    alice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from axes.models import AccessAttempt

    caplog.set_level(logging.DEBUG)
    guess(client_from(ATTACKER_IP), LIMIT)
    sign_in(client_from(ATTACKER_IP), PASSWORD)

    attempt = AccessAttempt.objects.get()
    assert attempt.failures_since_start >= LIMIT
    stored = " ".join(
        str(value) for value in AccessAttempt.objects.values_list().get() if value is not None
    )
    assert "guess-" not in stored
    assert PASSWORD not in stored
    assert "guess-" not in caplog.text
    assert PASSWORD not in caplog.text


@pytest.fixture(scope="session")
def _orm_beside_playwright() -> Iterator[None]:
    """Let test code (and the test database setup) use the ORM beside Playwright's loop.

    As in test_browser.py: Playwright runs an asyncio loop in the main thread, and
    Django refuses ORM calls from it as "async"; this code is plain synchronous.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.mark.browser
@pytest.mark.usefixtures("_orm_beside_playwright")
@pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])
def test_a_browser_is_locked_out_and_shown_the_page_within_the_csp(
    browser: Any,
    live_server: Any,
    django_user_model: Any,
    settings: Any,
    javascript: bool,
) -> None:
    from playwright.sync_api import expect

    settings.AXES_FAILURE_LIMIT = 3  # the live server runs in this process
    django_user_model.objects.create_user(username="alice", password=PASSWORD)
    django_user_model.objects.create_user(username="bob", password="bob-pass-7391")
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    def submit(username: str, password: str) -> None:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()

    for n in range(3):
        submit("alice", f"guess-{n}")
    expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()
    submit("alice", PASSWORD)
    expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()
    expect(page.get_by_text("Try again in 15 minutes")).to_be_visible()
    SCREENSHOTS.mkdir(exist_ok=True)  # git-ignored, like test_browser.py's
    page.screenshot(path=str(SCREENSHOTS / f"signin_locked_js_{'on' if javascript else 'off'}.png"))

    page.get_by_role("link", name="Back to sign in").click()
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("bob-pass-7391")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Tasks", level=1)).to_be_visible()
    context.close()
    assert not [text for text in console if "Content Security Policy" in text]
