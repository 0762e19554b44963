"""EMAIL_URL decides where alert emails go; a bad one stops the server with one line."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from django.core import mail
from django.test import override_settings

from aiconfig.mail_settings import mailers_from_url
from aiconfig.services.alerts import DueAlert, deliver
from tests.conftest import ROOT, Manage
from tests.fake_smtp import FakeSMTP


def test_an_smtp_url_gives_host_port_login_and_tls() -> None:
    with override_settings(
        MAILERS=mailers_from_url("smtp+tls://alerts:p%40ss@mail.example.com:2525")
    ):
        mailer = mail.mailers["default"]
        assert (mailer.host, mailer.port) == ("mail.example.com", 2525)
        assert (mailer.username, mailer.password) == ("alerts", "p@ss")
        assert mailer.use_tls is True
        assert mailer.timeout == 10  # a silent mail server cannot hold the alert check


def test_the_console_url_prints_mail_instead() -> None:
    assert mailers_from_url("consolemail://") == {
        "default": {"BACKEND": "django.core.mail.backends.console.EmailBackend", "OPTIONS": {}}
    }


def test_an_alert_email_reaches_the_server_of_email_url() -> None:
    alert = DueAlert(
        kind="budget_exceeded",
        subject="text",
        period_start=datetime(2026, 12, 1, tzinfo=UTC),
        message="Budget exceeded: task 'text' spent $12.00 of $10.00 this month",
        email_to="ops@example.com, cto@example.com",
        webhook_url="",
    )
    with (
        FakeSMTP() as smtp,
        override_settings(MAILERS=mailers_from_url(f"smtp://127.0.0.1:{smtp.port}")),
    ):
        outcome = deliver(alert)

    assert outcome == "email sent to 2"
    [received] = smtp.received
    assert received.recipients == ["ops@example.com", "cto@example.com"]
    assert "Subject: [aiconfig] Budget exceeded" in received.data
    assert "spent $12.00 of $10.00" in received.data


def test_a_bad_email_url_stops_the_server_with_one_clear_line(manage: Manage) -> None:
    env = {**manage.base_env(), "EMAIL_URL": "smtp-please://mail.example.com"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "aiconfig: EMAIL_URL is not a mail URL (Invalid email schema smtp-please); "
        "see .env.example."
    ]
