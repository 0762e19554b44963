"""Shared fixtures: a clean AI environment, fresh databases for subprocess runs, users."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Variables that would leak a developer's own AI setup into the tests.
AI_ENV_RE = re.compile(r"^(AI_\w+|\w+_API_KEY|\w+_BASE_URL|AICONFIG_\w+)$")


def _clean_environ(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if not AI_ENV_RE.match(k)}


@pytest.fixture(scope="session")
def _clean_ai_environ() -> Iterator[None]:
    """Drop every AI_*, *_API_KEY and *_BASE_URL variable for the whole session."""
    removed = {k: v for k, v in os.environ.items() if AI_ENV_RE.match(k)}
    for key in removed:
        del os.environ[key]
    yield
    os.environ.update(removed)


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _no_internet() -> Iterator[None]:
    """Fail any test that tries to reach beyond this machine (DNS lookups included).

    Every provider in the tests is the local fake; a misrouted call to a real API
    should be a loud failure, not a slow timeout or a real request.
    """
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(target: object) -> OSError:
        return OSError(f"tests must not reach the network beyond loopback (tried {target!r})")

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise refuse(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise refuse(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(
            host.decode() if isinstance(host, bytes) else host
        ):
            raise refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = real_getaddrinfo


@pytest.fixture(scope="session")
def django_db_setup(
    _clean_ai_environ: None, django_db_setup: None, django_db_blocker: Any
) -> Iterator[None]:
    """The test database, seeded (by migrate) from a clean environment.

    At the end, before it is dropped, the connections threads still hold to it are
    ended: the gateway's database thread and event-loop lookup keep theirs open by
    design, and PostgreSQL refuses to drop a database others are connected to.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _fresh_config_cache() -> Iterator[None]:
    from aiconfig.selectors import clear_config_cache

    clear_config_cache()
    yield
    clear_config_cache()


@pytest.fixture(autouse=True)
def _close_call_log_connections() -> Iterator[None]:
    """Close the call log's own connections after each test (PostgreSQL can't drop a
    test database while they are open)."""
    yield
    from aiconfig.services.calls.log import close_log_connections

    close_log_connections()


# --- subprocess runs against a brand-new database ------------------------------------


def _postgres_fresh_database(url: str) -> tuple[str, Callable[[], None]]:
    """Create an empty database on the same server; return its URL and a dropper."""
    import psycopg
    from psycopg import sql

    base, _, _ = url.rpartition("/")
    name = f"aiconfig_sub_{uuid.uuid4().hex[:10]}"
    admin_url = base.replace("postgresql://", "postgres://") + "/postgres"
    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        with psycopg.connect(
            admin_url.replace("postgres://", "postgresql://"), autocommit=True
        ) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    return f"{base}/{name}", drop


class Manage:
    """Runs `manage.py` in a subprocess against its own empty database."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.env: dict[str, str] = {}

    def base_env(self) -> dict[str, str]:
        """The environment every run gets: clean of AI settings, no `.env` file."""
        env = _clean_environ(dict(os.environ))
        # Set in-process for the browser tests' ORM access; a subprocess must not inherit it
        # (`check --deploy` rightly refuses it).
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        env.update(
            DATABASE_URL=self.database_url,
            DEBUG="1",
            AICONFIG_ENV_FILE=str(self.workdir / "no.env"),
            PYTHONUNBUFFERED="1",
        )
        return env

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run one command; `env` adds AI settings for this run only."""
        full_env = self.base_env()
        full_env.update(self.env)
        full_env.update(env or {})
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        """Run a command that prints JSON and parse it."""
        return json.loads(self(*args, env=env).stdout)


@pytest.fixture
def manage(tmp_path: Path) -> Iterator[Manage]:
    """`manage.py` on an empty database: SQLite by default, PostgreSQL when the suite runs on it."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        fresh_url, drop = _postgres_fresh_database(url)
        try:
            yield Manage(fresh_url, tmp_path)
        finally:
            drop()
    else:
        yield Manage(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path)


# --- users -----------------------------------------------------------------------------


@pytest.fixture
def editor(django_user_model: Any) -> Any:
    """A staff user allowed to change the configuration and run tasks."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(
        username="editor", password="editor-pass-123", is_staff=True
    )
    codenames = [
        f"{action}_{model}"
        for action in ("view", "change", "add", "delete")
        for model in (
            "provider",
            "providermodel",
            "tasktype",
            "taskassignment",
            "taskfallback",
            "configchange",
            "modelprice",
            "calllog",
            "budget",
            "alertrule",
        )
    ] + ["run_task"]
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="aiconfig", codename__in=codenames)
    )
    return user


@pytest.fixture
def endpoint_admin(django_user_model: Any) -> Any:
    """A member of "AI endpoint admins" (migration 0003): an editor who may also set base
    URLs and key variables, i.e. decide where keys are sent. Not staff, not superuser."""
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(
        username="endpoint-admin", password="endpoint-pass-123"
    )
    user.groups.add(Group.objects.get(name="AI endpoint admins"))
    return user


@pytest.fixture
def viewer(django_user_model: Any) -> Any:
    """A signed-in user with no change permission: sees everything, changes nothing."""
    return django_user_model.objects.create_user(username="viewer", password="viewer-pass-123")


# --- fake AI provider for the adapters --------------------------------------------------

from tests.fake_provider import FakeProvider  # noqa: E402


@pytest.fixture(scope="session")
def _fake_provider_server() -> Iterator[FakeProvider]:
    """One fake OpenAI/Anthropic HTTP server on 127.0.0.1 for the whole session."""
    with FakeProvider() as server:
        yield server


@pytest.fixture
def fake_provider(_fake_provider_server: FakeProvider) -> FakeProvider:
    """The session's fake provider, with its recorded requests and per-model counters reset."""
    _fake_provider_server.reset()
    return _fake_provider_server


# Recognisable fake keys: tests search call logs, log lines and errors for them.
FAKE_KEYS = {
    "OPENAI_API_KEY": "sk-proj-FAKEOPENAI-000000000000-OA11",
    "ANTHROPIC_API_KEY": "sk-ant-FAKEANTHROPIC-0000000000-AN22",
    "GEMINI_API_KEY": "gm-FAKEGEMINI-00000000000000-GM33",
    "TOGETHER_API_KEY": "tg-FAKETOGETHER-000000000000-TG44",
    "OPENAI_COMPATIBLE_API_KEY": "oc-FAKECOMPAT-0000000000000-OC55",
}


def provider_env(fake: FakeProvider) -> dict[str, str]:
    """Env vars that point every built-in provider at the fake server, with fake keys."""
    return {
        **FAKE_KEYS,
        "OPENAI_BASE_URL": fake.openai_base_url,
        "ANTHROPIC_BASE_URL": fake.anthropic_base_url,
        "GEMINI_BASE_URL": fake.openai_base_url,
        "OLLAMA_BASE_URL": fake.openai_base_url,
        "TOGETHER_BASE_URL": fake.openai_base_url,
        "OPENAI_COMPATIBLE_BASE_URL": fake.openai_base_url,
    }


@pytest.fixture
def wired(fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, db: None) -> FakeProvider:
    """Every built-in provider pointed at the fake server (through the services), keys set."""
    from aiconfig import services

    for key, value in FAKE_KEYS.items():
        monkeypatch.setenv(key, value)
    for name in ("openai", "gemini", "ollama", "together", "openai-compatible"):
        services.update_provider(name=name, base_url=fake_provider.openai_base_url)
    services.update_provider(name="anthropic", base_url=fake_provider.anthropic_base_url)
    return fake_provider


# --- browser tests (pytest-playwright) --------------------------------------------------

# Debian's Chromium (`apt-get install chromium`; .ci/run installs it), not a browser
# downloaded by `playwright install`: one less thing to fetch, and the distro patches it.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's Chromium headless, quietly (no sandbox: CI runs as root in a container)."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last.

    Playwright's sync API keeps an event loop running in the main thread from the first
    browser test to the end of the session; a later test that calls async code from sync
    code (asyncio.run, async_to_sync, Django's test client on an async view) would then
    fail for a reason that has nothing to do with what it tests.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(autouse=True)
def _no_alerts_after_calls(settings: Any) -> None:
    """Alerts run in a background thread after calls; tests check them explicitly."""
    settings.AICONFIG_ALERTS_AFTER_CALLS_SECONDS = 0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Let the call-log writer finish the test's rows before its fixtures are torn down.

    A call hands its rows to the writer thread and returns. Written after the test's
    database is flushed, they would land in the next test's tables (or fail against
    the flush and come back later from the backlog), and that test would count a row
    it never made.
    """
    if "django" in sys.modules:
        from aiconfig.services.calls.log_writer import wait_for_writes

        wait_for_writes(timeout=30)
    return (yield)
