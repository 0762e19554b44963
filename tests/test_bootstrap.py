"""`manage.py ai_bootstrap`: the first admin on an empty database, never a prompt."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests.conftest import Manage

pytestmark = pytest.mark.django_db


def bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("ai_bootstrap", *args, stdout=out)
    return out.getvalue()


def printed_password(output: str) -> str:
    match = re.search(r"Password: (\S+)", output)
    assert match, output
    return match.group(1)


def signs_in(username: str, password: str) -> bool:
    """Through the real sign-in form (the lockout backend needs the request)."""
    response = Client().post("/login/", {"username": username, "password": password})
    return response.status_code == 302


def test_creates_one_superuser_whose_printed_password_signs_in() -> None:
    output = bootstrap("--url", "http://127.0.0.1:8000/")
    password = printed_password(output)
    assert len(password) >= 20
    assert "Sign in at http://127.0.0.1:8000/login/" in output
    user = get_user_model().objects.get()
    assert (user.username, user.is_superuser, user.is_staff) == ("admin", True, True)
    assert password not in user.password  # stored as a hash only

    client = Client()
    response = client.post("/login/", {"username": "admin", "password": password})
    assert response.status_code == 302
    assert response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "Read-only." not in page.content.decode()


def test_second_run_does_nothing() -> None:
    first = printed_password(bootstrap())
    again = bootstrap()
    assert "users exist" in again
    assert "Password" not in again
    assert get_user_model().objects.count() == 1
    assert signs_in("admin", first)


def test_does_nothing_when_any_user_exists(viewer: Any) -> None:
    assert "users exist" in bootstrap()
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["viewer"]


def test_known_password_from_the_environment_and_a_username(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AICONFIG_ADMIN_PASSWORD", "correct-horse-battery-staple")
    output = bootstrap("--username", "ops")
    assert "AICONFIG_ADMIN_PASSWORD" in output
    assert "correct-horse-battery-staple" not in output  # you know it; it is not printed
    assert signs_in("ops", "correct-horse-battery-staple")


def test_runs_without_a_terminal_on_a_fresh_database(manage: Manage) -> None:
    """What `make run` does: migrate, then bootstrap, with no stdin to answer prompts."""
    manage("migrate", "--no-input")
    first = manage("ai_bootstrap", "--url", "http://127.0.0.1:8000/")
    assert "created superuser 'admin'" in first.stdout
    printed_password(first.stdout)
    second = manage("ai_bootstrap")
    assert "users exist" in second.stdout
