"""The API tokens page, and /v1/ served in-process (the path `make run`'s server takes)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.test import Client

from aiconfig.models import ApiToken, CallLog
from aiconfig.services.calls import wait_for_call_log
from aiconfig.services.tokens import create_token
from tests.fake_provider import FakeProvider


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_an_endpoint_admin_creates_a_token_and_sees_it_only_once(endpoint_admin: Any) -> None:
    client = signed_in(endpoint_admin)
    page = client.post(
        "/tokens/", {"name": "billing-app", "tasks": ["text"], "rate_limit": "60", "budget": "5"}
    )
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    secret = page.context["created"].secret
    assert secret.startswith("aic_")
    assert secret in page.content.decode()

    row = ApiToken.objects.get(name="billing-app")
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(list(ApiToken.objects.values()))
    assert (row.tasks, row.rate_limit_per_minute, row.created_by) == (["text"], 60, endpoint_admin)

    again = client.get("/tokens/").content.decode()
    assert secret not in again
    assert row.prefix in again


@pytest.mark.django_db
def test_bad_input_keeps_what_was_typed_and_creates_nothing(endpoint_admin: Any) -> None:
    page = signed_in(endpoint_admin).post(
        "/tokens/", {"name": "Bad Name", "budget": "7", "rate_limit": "10"}
    )
    assert page.status_code == 400
    html = page.content.decode()
    assert "is not valid" in html
    assert 'value="Bad Name"' in html
    assert 'value="7"' in html
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_an_editor_can_neither_see_create_nor_revoke_tokens(
    editor: Any, endpoint_admin: Any
) -> None:
    """A lower role forging the forms gets 403 and changes nothing."""
    create_token(name="payroll")
    client = signed_in(editor)
    assert client.get("/tokens/").status_code == 403
    assert client.post("/tokens/", {"name": "mine"}).status_code == 403
    assert client.post("/tokens/payroll/revoke/").status_code == 403
    assert list(ApiToken.objects.values_list("name", "revoked_at")) == [("payroll", None)]
    assert "API tokens" not in client.get("/").content.decode()
    assert "API tokens" in signed_in(endpoint_admin).get("/").content.decode()


@pytest.mark.django_db
def test_revoking_from_the_page_shuts_the_token_out(endpoint_admin: Any) -> None:
    secret = create_token(name="payroll").secret
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert Client().get("/v1/models", **bearer).status_code == 200
    response = signed_in(endpoint_admin).post("/tokens/payroll/revoke/")
    assert response.status_code == 302
    assert ApiToken.objects.get(name="payroll").revoked_at is not None
    assert Client().get("/v1/models", **bearer).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_the_development_server_path_serves_v1_and_logs_the_token(wired: FakeProvider) -> None:
    secret = create_token(name="dev-app").secret
    client = Client(enforce_csrf_checks=True)  # no CSRF token: the gateway does not need one
    answer = client.post(
        "/v1/chat/completions",
        {"model": "text", "messages": [{"role": "user", "content": "Say hello"}]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["choices"][0]["message"]["content"]
    wait_for_call_log()  # the row is written by the call-log writer, after the answer
    rows = CallLog.objects.filter(request_id=answer["x-aiconfig-request-id"])
    assert [(r.source, r.api_token) for r in rows] == [("api", "dev-app")]
    assert ApiToken.objects.get(name="dev-app").last_used_at is not None


@pytest.mark.django_db
def test_a_signed_in_session_is_no_credential_for_v1(django_user_model: Any) -> None:
    """A page on another site making the admin's browser post to /v1/ gets nothing."""
    admin = django_user_model.objects.create_superuser(username="root", password="root-pass-1")
    answer = signed_in(admin).post(
        "/v1/chat/completions",
        {"model": "text", "messages": [{"role": "user", "content": "hi"}]},
        content_type="application/json",
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "missing_api_key"
    assert not CallLog.objects.exists()


@pytest.mark.django_db
def test_an_expired_token_is_refused(endpoint_admin: Any) -> None:
    from django.utils import timezone

    secret = create_token(name="old").secret
    ApiToken.objects.filter(name="old").update(expires_at=timezone.now())
    answer = Client().get("/v1/models", HTTP_X_API_KEY=secret)
    assert answer.status_code == 401
    assert (
        answer.json()["error"]["message"] == "Invalid API token: it is unknown, revoked or expired."
    )


@pytest.mark.django_db
def test_an_oversized_body_is_a_413_not_a_crash(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    secret = create_token(name="big").secret
    answer = Client().post(
        "/v1/chat/completions",
        {"model": "text", "messages": [{"role": "user", "content": "x" * 2000}]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert answer.status_code == 413
    assert "over 1000 bytes" in answer.json()["error"]["message"]
