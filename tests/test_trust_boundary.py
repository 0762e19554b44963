"""Attacks on the trust boundary: who decides where a key goes, which variables are keys,
and where requests may go (issue 7, points 1-3).

A second FakeProvider plays the attacker's server: it records every request, so the
tests can assert that no key ever reached it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterator
from typing import Any

import httpcore2
import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.test import Client

from adapters import egress
from aiconfig import services
from aiconfig.models import ConfigChange, Provider
from aiconfig.services import ConfigValidationError, calls
from tests.conftest import FAKE_KEYS
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
SECRET_VALUE = "django-insecure-SECRETVALUE-0000000000-SK99"
DATABASE_VALUE = "postgres://app:DBPASSWORD-000000@db/app"
METADATA_URL = "http://169.254.169.254/latest/meta-data/"


@pytest.fixture(scope="module")
def attacker() -> Iterator[FakeProvider]:
    """The attacker's own server: answers like a provider, records what it was sent."""
    with FakeProvider() as server:
        yield server


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Secrets in the environment that no attacker may receive (PATH's value included)."""
    monkeypatch.setenv("SECRET_KEY", SECRET_VALUE)
    monkeypatch.setenv("DATABASE_URL_FOR_TEST_ONLY", DATABASE_VALUE)
    return [*FAKE_KEYS.values(), SECRET_VALUE, DATABASE_VALUE, os.environ["PATH"]]


@pytest.fixture
def staff_editor(editor: Any) -> Any:
    """The conftest editor: staff, every config permission except manage_endpoints."""
    assert editor.is_staff
    assert not editor.is_superuser
    assert not editor.has_perm("aiconfig.manage_endpoints")
    return editor


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def leaked(server: FakeProvider, secrets: list[str]) -> list[str]:
    """Every header value the server received that carries one of `secrets`."""
    found = []
    for request in server.requests:
        for name, value in request.headers.items():
            if any(secret and secret in value for secret in secrets):
                found.append(f"{request.path} {name}")
    return found


def admin_provider_form(provider: Provider, **overrides: str) -> dict[str, str]:
    data = {
        "name": provider.name,
        "label": provider.label,
        "kind": provider.kind,
        "enabled": "on",
        "base_url": provider.base_url,
        "api_key_env": provider.api_key_env,
        "key_required": "on" if provider.key_required else "",
        "default_text_model": provider.default_text_model,
        "default_image_model": provider.default_image_model,
        "pricing_id": provider.pricing_id,
        "models-TOTAL_FORMS": "0",
        "models-INITIAL_FORMS": "0",
        "models-MIN_NUM_FORMS": "0",
        "models-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""}


# --- 1. endpoint settings are their own permission -----------------------------------------


def test_an_editor_cannot_send_any_key_to_their_own_server(
    wired: FakeProvider, attacker: FakeProvider, staff_editor: Any, secrets_env: list[str]
) -> None:
    attacker.reset()
    evil = attacker.openai_base_url
    dashboard = client_for(staff_editor)
    before = {p.name: (p.base_url, p.api_key_env) for p in Provider.objects.all()}

    # The dashboard: a forged edit of openai's URL and key variable is not applied.
    dashboard.post(
        "/providers/openai/edit/",
        {
            "edit-openai-label": "OpenAI",
            "edit-openai-base_url": evil,
            "edit-openai-api_key_env": "SECRET_KEY",
            "edit-openai-default_text_model": "gpt-4.1",
        },
        headers=HX,
    )
    # ...nor can it add a provider that reads someone else's key.
    for number, variable in enumerate(["OPENAI_API_KEY", "SECRET_KEY", "PATH"]):
        dashboard.post(
            "/providers/add/",
            {
                "new-provider-name": f"evil-{number}",
                "new-provider-base_url": evil,
                "new-provider-api_key_env": variable,
                "new-provider-key_required": "on",
                "new-provider-default_text_model": "gpt-4o-mini",
            },
            headers=HX,
        )
    # The admin (a staff editor): the endpoint fields are read-only, a forged POST ignored.
    admin = client_for(staff_editor)
    openai = Provider.objects.get(name="openai")
    admin.post(
        f"/admin/aiconfig/provider/{openai.pk}/change/",
        admin_provider_form(openai, base_url=evil, api_key_env="ANTHROPIC_API_KEY"),
    )
    admin.post(
        "/admin/aiconfig/provider/add/",
        admin_provider_form(
            Provider(name="evil-admin", kind="openai_compatible", default_text_model="x"),
            base_url=evil,
            api_key_env="OPENAI_API_KEY",
            key_required="on",
        ),
    )
    # Direct service calls on the editor's behalf.
    for changes in ({"base_url": evil}, {"api_key_env": "OPENAI_API_KEY"}):
        with pytest.raises(PermissionDenied, match="AI endpoint admins"):
            services.update_provider(name="anthropic", user=staff_editor, **changes)
    for variable in ("OPENAI_API_KEY", "SECRET_KEY", "PATH"):
        with pytest.raises(PermissionDenied, match="manage endpoints"):
            services.add_provider(
                name="evil-service", base_url=evil, api_key_env=variable, user=staff_editor
            )

    # Nothing that decides where a key goes has moved; what was added reads no key.
    for name, endpoint in before.items():
        row = Provider.objects.get(name=name)
        assert (row.base_url, row.api_key_env) == endpoint
    added = Provider.objects.exclude(name__in=before)
    assert added.exists()  # keyless providers are still the editor's to add
    assert set(added.values_list("api_key_env", flat=True)) == {""}

    # The editor now uses everything they may: a task on their keyless provider, Test
    # connection on every provider, Try it, and every task run from code.
    services.update_task_config(
        task="text", provider="evil-0", model="gpt-4o-mini", fallbacks=[], user=staff_editor
    )
    for provider in Provider.objects.all():
        dashboard.post(f"/providers/{provider.name}/test/", headers=HX)
    dashboard.post("/tasks/text/try/", {"try-text-prompt": "hi"}, headers=HX)
    calls.generate_text(prompt="hello")
    assert attacker.requests  # the keyless provider really was called...
    assert leaked(attacker, secrets_env) == []  # ...and never received a key


def test_an_editor_keeps_everything_but_the_endpoint(
    wired: FakeProvider, staff_editor: Any
) -> None:
    dashboard = client_for(staff_editor)
    page = dashboard.get("/providers/?edit=openai").content.decode()
    assert "id_edit-openai-label" in page
    assert "id_edit-openai-base_url" not in page
    assert "id_edit-openai-api_key_env" not in page
    assert "set by an endpoint admin" in page
    assert "id_new-provider-api_key_env" not in page
    response = dashboard.post(
        "/providers/openai/edit/",
        {"edit-openai-label": "OpenAI (prod)", "edit-openai-default_text_model": "gpt-4o"},
        headers=HX,
    )
    assert response.status_code == 200
    row = Provider.objects.get(name="openai")
    assert (row.label, row.default_text_model) == ("OpenAI (prod)", "gpt-4o")
    assert row.base_url == wired.openai_base_url
    disabled = dashboard.post("/providers/openai/enabled/", {"enabled": "false", "confirm": "1"})
    assert disabled.status_code == 302
    assert Provider.objects.get(name="openai").enabled is False


def test_an_editor_cannot_revert_an_endpoint_change(
    wired: FakeProvider, attacker: FakeProvider, staff_editor: Any, endpoint_admin: Any
) -> None:
    services.update_provider(
        name="openai", base_url=wired.openai_base_url + "/", user=endpoint_admin
    )
    change = ConfigChange.objects.order_by("-id").first()
    assert change is not None
    assert change.user == endpoint_admin
    with pytest.raises(PermissionDenied):
        services.revert_change(change_id=change.pk, user=staff_editor)
    assert Provider.objects.get(name="openai").base_url == wired.openai_base_url + "/"
    services.revert_change(change_id=change.pk, user=endpoint_admin)
    assert Provider.objects.get(name="openai").base_url == wired.openai_base_url


def test_an_endpoint_admin_can_do_what_the_editor_could_not(
    wired: FakeProvider, attacker: FakeProvider, endpoint_admin: Any
) -> None:
    attacker.reset()
    dashboard = client_for(endpoint_admin)
    page = dashboard.get("/providers/?edit=openai").content.decode()
    assert "id_edit-openai-base_url" in page
    assert "id_new-provider-api_key_env" in page
    response = dashboard.post(
        "/providers/openai/edit/",
        {
            "edit-openai-label": "OpenAI",
            "edit-openai-base_url": attacker.openai_base_url,
            "edit-openai-api_key_env": "OPENAI_API_KEY",
            "edit-openai-default_text_model": "gpt-4.1",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert Provider.objects.get(name="openai").base_url == attacker.openai_base_url
    added = dashboard.post(
        "/providers/add/",
        {
            "new-provider-name": "gateway",
            "new-provider-base_url": attacker.openai_base_url,
            "new-provider-api_key_env": "OPENAI_COMPATIBLE_API_KEY",
            "new-provider-key_required": "on",
        },
        headers=HX,
    )
    assert added.status_code == 200
    assert Provider.objects.get(name="gateway").api_key_env == "OPENAI_COMPATIBLE_API_KEY"
    # The permission is what stood between the key and this server.
    dashboard.post("/providers/openai/test/", headers=HX)
    assert leaked(attacker, [FAKE_KEYS["OPENAI_API_KEY"]])


def test_admin_shows_endpoint_fields_read_only_to_an_editor(
    staff_editor: Any, endpoint_admin: Any, admin_user: Any
) -> None:
    url = f"/admin/aiconfig/provider/{Provider.objects.get(name='openai').pk}/change/"
    as_editor = client_for(staff_editor).get(url).content.decode()
    assert 'name="base_url"' not in as_editor
    assert 'name="api_key_env"' not in as_editor
    assert 'name="label"' in as_editor
    as_superuser = client_for(admin_user).get(url).content.decode()
    assert 'name="base_url"' in as_superuser
    assert 'name="api_key_env"' in as_superuser


# --- 2. which variables can be keys ---------------------------------------------------------


@pytest.mark.parametrize(
    "variable",
    ["SECRET_KEY", "DATABASE_URL", "PATH", "HOME", "DJANGO_SECRET_KEY", "AI_TEXT_PROVIDER",
     "AICONFIG_LOG_PROMPTS", "PGPASSWORD", "LD_PRELOAD", "GITHUB_TOKEN", "OPENAI_KEY"],
)  # fmt: skip
def test_a_key_variable_outside_the_allowlist_is_refused_even_for_an_admin(
    variable: str, admin_user: Any
) -> None:
    with pytest.raises(ConfigValidationError) as excinfo:
        services.update_provider(name="openai", api_key_env=variable, user=admin_user)
    (problem,) = excinfo.value.problems
    assert problem.field == "api_key_env"
    assert variable in problem.message
    assert "_API_KEY" in problem.fix
    assert Provider.objects.get(name="openai").api_key_env == "OPENAI_API_KEY"


def test_the_allowlist_is_configurable_but_never_unlocks_the_denylist(settings: Any) -> None:
    settings.AICONFIG_KEY_VARIABLES = ["MYCORP_*"]
    services.update_provider(name="openai", api_key_env="MYCORP_LLM")
    with pytest.raises(ConfigValidationError):
        services.update_provider(name="anthropic", api_key_env="CLAUDE_API_KEY")
    settings.AICONFIG_KEY_VARIABLES = ["*"]
    with pytest.raises(ConfigValidationError, match="SECRET_KEY"):
        services.update_provider(name="openai", api_key_env="SECRET_KEY")


def test_a_stored_disallowed_variable_is_never_read_nor_shown(
    wired: FakeProvider, editor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_KEY", SECRET_VALUE)
    # Stored before the rule existed (or straight into the database).
    Provider.objects.filter(name="openai").update(api_key_env="SECRET_KEY", key_required=False)
    wired.reset()
    page = client_for(editor).get("/providers/").content.decode()
    assert SECRET_VALUE[-4:] not in page
    assert "not allowed as a key variable" in page
    with pytest.raises(calls.TaskFailed):
        calls.generate_text(prompt="hi")
    assert leaked(wired, [SECRET_VALUE]) == []
    assert wired.requests == []  # refused before any request: the provider is misconfigured


def test_manage_py_check_reports_a_disallowed_key_variable() -> None:
    Provider.objects.filter(name="together").update(api_key_env="PATH")
    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check")
    assert "aiconfig.E013" in str(excinfo.value)
    assert "key variable PATH" in str(excinfo.value)


# --- 3. where requests may go --------------------------------------------------------------

METADATA_URLS = [
    METADATA_URL,
    "http://169.254.170.2/v2/credentials",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fe80::1]/v1",
    "http://[::ffff:169.254.169.254]/",
    "http://[fd00:ec2::254]/",
]


@pytest.mark.parametrize("url", METADATA_URLS)
def test_metadata_and_link_local_urls_are_refused_on_save(url: str) -> None:
    with pytest.raises(ConfigValidationError) as excinfo:
        services.update_provider(name="ollama", base_url=url)
    assert [p.field for p in excinfo.value.problems] == ["base_url"]
    assert Provider.objects.get(name="ollama").base_url != url


def test_metadata_url_is_refused_by_the_dashboard_admin_and_cli(
    endpoint_admin: Any, admin_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = client_for(endpoint_admin).post(
        "/providers/ollama/edit/",
        {"edit-ollama-label": "Ollama", "edit-ollama-base_url": METADATA_URL},
        headers=HX,
    )
    assert response.status_code == 422
    assert "link-local or cloud metadata" in response.content.decode()
    ollama = Provider.objects.get(name="ollama")
    admin = client_for(admin_user).post(
        f"/admin/aiconfig/provider/{ollama.pk}/change/",
        admin_provider_form(ollama, base_url=METADATA_URL),
    )
    assert admin.status_code == 200  # the form again, with the error
    assert "link-local or cloud metadata" in admin.content.decode()
    monkeypatch.setenv("OLLAMA_BASE_URL", METADATA_URL)
    with pytest.raises(CommandError, match="link-local or cloud metadata"):
        call_command("ai_config", "apply-env")
    assert Provider.objects.get(name="ollama").base_url == ollama.base_url


def test_a_stored_metadata_url_is_refused_without_connecting(
    wired: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    connects: list[str] = []
    real = httpcore2.SyncBackend.connect_tcp
    monkeypatch.setattr(
        httpcore2.SyncBackend,
        "connect_tcp",
        lambda self, host, port, **kw: connects.append(host) or real(self, host, port, **kw),
    )
    Provider.objects.filter(name="openai").update(base_url=METADATA_URL)
    check = calls.test_provider_connection(provider="openai")
    assert not check.ok
    assert "link-local or cloud metadata" in check.message
    assert connects == []


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A fake resolver for the guard (the suite forbids real lookups)."""
    table: dict[str, list[str]] = {}

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise httpcore2.ConnectError(f"could not resolve {host!r}")
        return table[host]

    monkeypatch.setattr(egress, "resolve", resolve)
    return table


def test_a_name_resolving_to_link_local_is_refused_when_connecting(
    wired: FakeProvider, dns: dict[str, list[str]], endpoint_admin: Any
) -> None:
    port = wired.url.rsplit(":", 1)[1]
    # Saved while it pointed somewhere harmless (a name cannot be judged without DNS)...
    services.update_provider(
        name="openai", base_url=f"http://llm.example.test:{port}/v1", user=endpoint_admin
    )
    dns["llm.example.test"] = ["127.0.0.1"]
    wired.reset()
    assert calls.generate_text(prompt="hi").text
    assert wired.requests[0].headers["host"] == f"llm.example.test:{port}"
    # ...then the name rebinds to the metadata address (alone, or among others).
    for answer in (["169.254.169.254"], ["127.0.0.1", "169.254.169.254"]):
        dns["llm.example.test"] = answer
        calls.clear_adapter_cache()
        wired.reset()
        check = calls.test_provider_connection(provider="openai")
        assert not check.ok
        assert "169.254.169.254 is a link-local or cloud metadata address" in check.message
        assert wired.requests == []


@pytest.mark.anyio
async def test_the_async_guard_refuses_link_local_too(dns: dict[str, list[str]]) -> None:
    dns["rebind.example.test"] = ["169.254.169.254"]
    async with egress.guarded_async_client(allow_private=True, timeout=2) as client:
        with pytest.raises(Exception, match="link-local") as excinfo:
            await client.get("http://rebind.example.test/latest/meta-data/")
    assert isinstance(excinfo.value.__cause__, egress.EndpointRefused)


def test_private_endpoints_can_be_switched_off(wired: FakeProvider, settings: Any) -> None:
    settings.AICONFIG_ALLOW_PRIVATE_ENDPOINTS = False
    with pytest.raises(ConfigValidationError, match="AICONFIG_ALLOW_PRIVATE_ENDPOINTS"):
        services.update_provider(name="ollama", base_url="http://127.0.0.1:11434/v1")
    # Stored while they were allowed: refused at call time, no request made.
    wired.reset()
    with pytest.raises(calls.TaskFailed):
        calls.generate_text(prompt="hi")
    assert wired.requests == []
    # The connect-time guard on its own (no save-time rule in the way).
    with (
        egress.guarded_client(allow_private=False, timeout=2) as client,
        pytest.raises(Exception, match="AICONFIG_ALLOW_PRIVATE_ENDPOINTS"),
    ):
        client.get(wired.openai_base_url + "/models")
    assert wired.requests == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_test_connection_is_not_a_port_scanner(
    wired: FakeProvider, attacker: FakeProvider, editor: Any
) -> None:
    """Refused, not an API, and a garbled answer all read the same, without body text."""
    dashboard = client_for(editor)
    messages = []
    for url in (
        f"http://127.0.0.1:{closed_port()}/v1",  # nothing listening
        attacker.url + "/not-an-api",  # something answers, but not a provider (404 + body)
    ):
        Provider.objects.filter(name="together").update(base_url=url)
        html = dashboard.post("/providers/together/test/", headers=HX).content.decode()
        assert "Connection failed." in html
        assert "could not reach the endpoint" in html
        assert "not-an-api" not in html
        assert "Unknown request URL" not in html
        assert " ms" not in html  # no timing either
        messages.append(html.replace(url, "URL"))
    assert "HTTP 404" in messages[1]
    assert messages[0] == messages[1].replace(" (HTTP 404)", "")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("169.254.169.254", "forbidden"),
        ("::ffff:169.254.169.254", "forbidden"),  # IPv4-mapped
        ("64:ff9b::a9fe:a9fe", "forbidden"),  # NAT64 of 169.254.169.254
        ("100.100.100.200", "forbidden"),  # Alibaba Cloud metadata
        ("fe80::1", "forbidden"),
        ("224.0.0.1", "forbidden"),
        ("127.0.0.1", "private"),
        ("::1", "private"),
        ("10.1.2.3", "private"),
        ("192.168.1.20", "private"),
        ("100.64.0.1", "private"),
        ("93.184.216.34", "public"),
        ("2606:4700::1111", "public"),
    ],
)
def test_addresses_are_classified_without_dns(address: str, expected: str) -> None:
    assert egress.classify(ipaddress.ip_address(address)) == expected
    url = f"http://[{address}]/v1" if ":" in address else f"http://{address}/v1"
    refused = egress.url_problem(url, allow_private=True)
    assert (refused is not None) == (expected == "forbidden")


def test_try_it_is_not_a_port_scanner_either(
    wired: FakeProvider, attacker: FakeProvider, editor: Any
) -> None:
    """A closed port and one that accepts but never answers read the same in Try it."""
    dashboard = client_for(editor)
    services.add_provider(name="probe", base_url=attacker.url + "/v1", user=editor)
    services.update_task_config(
        task="text",
        provider="probe",
        model="gpt-4o-mini",
        fallbacks=[],
        timeout_seconds=1.0,
        user=editor,
    )
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nothing ever answers
        urls = (
            f"http://127.0.0.1:{closed_port()}/v1",
            f"http://127.0.0.1:{silent.getsockname()[1]}/v1",
            attacker.url + "/not-an-api",  # an HTTP server that is not an API
        )
        outcomes = []
        for url in urls:
            services.update_provider(name="probe", base_url=url)  # the operator, for the test
            calls.clear_adapter_cache()
            response = dashboard.post("/tasks/text/try/", {"try-text-prompt": "hi"}, headers=HX)
            page = response.content.decode()
            assert "Unknown request URL" not in page
            assert "not-an-api" not in page
            assert '<span class="attempt-latency"></span>' in page  # no timing either
            match = re.search(r'<span class="attempt-outcome">(.*?)</span>', page, re.S)
            assert match is not None
            outcomes.append(match.group(1).strip())
    assert outcomes[0] == outcomes[1] == "provider_error: could not reach the endpoint."
    assert "(HTTP 404)" in outcomes[2]
