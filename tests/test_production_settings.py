"""Running with DEBUG off: refused without a real SECRET_KEY, clean `check --deploy`, uvicorn."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import FAKE_KEYS, ROOT, Manage

HOST = "aiconfig.example.com"
ADMIN_PASSWORD = "correct-horse-battery-staple"


def production_env(**extra: str) -> dict[str, str]:
    """The environment "Running in production" in the README documents."""
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
        "OPENAI_API_KEY": FAKE_KEYS["OPENAI_API_KEY"],
        **extra,
    }


def run_without_secret_key(
    manage: Manage, argv: list[str], secret_key: str | None
) -> subprocess.CompletedProcess[str]:
    """Run `argv` with DEBUG off and SECRET_KEY missing (None) or set to `secret_key`."""
    env = manage.base_env()
    env.pop("SECRET_KEY", None)
    env.update(production_env())
    del env["SECRET_KEY"]
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["manage.py", "check"],
        ["manage.py", "migrate", "--no-input"],
        ["manage.py", "runserver", "127.0.0.1:0", "--noreload"],
        ["-c", "import aiconfig.asgi"],
        ["-c", "import aiconfig.wsgi"],
    ],
    ids=["check", "migrate", "runserver", "asgi", "wsgi"],
)
def test_no_secret_key_stops_every_entry_point_with_one_clear_line(
    manage: Manage, argv: list[str]
) -> None:
    result = run_without_secret_key(manage, argv, None)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        'aiconfig: SECRET_KEY is not set. Set it to a long random value (see "Running in'
        ' production" in the README), or DEBUG=true for development.'
    ]
    assert result.stdout == ""
    assert not (manage.workdir / "db.sqlite3").exists()  # migrate did nothing


@pytest.mark.parametrize(
    ("secret_key", "says"),
    [
        ("", "SECRET_KEY is not set"),
        ("   ", "SECRET_KEY is not set"),
        ("dev-only-insecure-secret-key-change-me", "SECRET_KEY is the public development key"),
    ],
    ids=["empty", "blank", "dev-key"],
)
def test_an_empty_or_public_secret_key_is_refused(
    manage: Manage, secret_key: str, says: str
) -> None:
    result = run_without_secret_key(manage, ["manage.py", "check"], secret_key)
    assert result.returncode != 0
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_development_needs_no_secret_key(manage: Manage) -> None:
    env = manage.base_env()
    env.pop("SECRET_KEY", None)
    dev = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dev.returncode == 0, dev.stderr


def test_check_deploy_is_clean_with_the_documented_production_env(manage: Manage) -> None:
    env = production_env()
    manage("migrate", "--no-input", env=env)
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "security.W0" not in output
    assert "no issues" in output


def test_check_deploy_warns_about_a_short_secret_key(manage: Manage) -> None:
    env = production_env(SECRET_KEY="short-but-set")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env, check=False)
    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("env", "header"),
    [
        ({"BEHIND_TLS_PROXY": "true"}, "('HTTP_X_FORWARDED_PROTO', 'https')"),
        ({"SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_SSL,on"}, "('HTTP_X_FORWARDED_SSL', 'on')"),
        ({}, "None"),
    ],
    ids=["behind-tls-proxy", "explicit", "off-by-default"],
)
def test_the_proxy_ssl_header_is_opt_in(manage: Manage, env: dict[str, str], header: str) -> None:
    code = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    result = manage("shell", "--no-imports", "-c", code, env=production_env(**env))
    assert result.stdout.strip() == header


def test_a_malformed_proxy_ssl_header_is_a_clear_error(manage: Manage) -> None:
    env = production_env(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    result = manage("check", env=env, check=False)
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must look like HTTP_X_FORWARDED_PROTO,https" in result.stderr
    assert "Traceback" not in result.stderr


# --- uvicorn, as `make serve` runs it ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`make serve` on loopback, shared by this module's server tests; its base URL.

    migrate, a first admin, collectstatic, then uvicorn with two workers, all with
    the production environment (on SQLite: the database engine is not under test).
    """
    workdir = tmp_path_factory.mktemp("served")
    manage = Manage(f"sqlite:///{workdir / 'db.sqlite3'}", workdir)
    env = production_env(
        STATIC_ROOT=str(workdir / "static"),
        AICONFIG_ADMIN_PASSWORD=ADMIN_PASSWORD,
        AXES_FAILURE_LIMIT="3",
    )
    manage("migrate", "--no-input", env=env)
    manage("ai_bootstrap", env=env)
    manage("collectstatic", "--no-input", env=env)
    port = free_port()
    full_env = {**manage.base_env(), **env}
    uvicorn = [sys.executable, "-m", "uvicorn", "aiconfig.asgi:application", "--lifespan", "off"]
    # A file, not a pipe: nobody reads the log while tests run, and a full pipe would stall it.
    log_path = workdir / "uvicorn.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [*uvicorn, "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers go with it
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30  # an upper bound for a busy CI machine
        while True:
            try:
                httpx.get(f"{base_url}/login/", timeout=1, trust_env=False)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"uvicorn did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_uvicorn_serves_the_sign_in_page_and_hashed_static_files(served: str) -> None:
    # What the TLS proxy in front sends: the public host, and that the client used HTTPS.
    behind_proxy = {"Host": HOST, "X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=served, headers=behind_proxy, timeout=5, trust_env=False) as client:
        page = client.get("/login/")
        assert page.status_code == 200
        assert "Sign in" in page.text
        assert page.headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains; preload"
        )
        assert "Secure" in page.headers["Set-Cookie"]  # the CSRF cookie: HTTPS only

        stylesheet = re.search(r'href="(/static/css/base\.[0-9a-f]{12}\.css)"', page.text)
        assert stylesheet, page.text
        css = client.get(stylesheet.group(1))
        assert css.status_code == 200
        assert css.headers["Content-Type"].startswith("text/css")
        assert "immutable" in css.headers["Cache-Control"]

    # Plain HTTP is sent to HTTPS, never served.
    plain = httpx.get(f"{served}/login/", headers={"Host": HOST}, timeout=5, trust_env=False)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"https://{HOST}/login/"


def sign_in_via_proxy(base_url: str, forwarded_for: str, password: str) -> httpx.Response:
    """Sign in as `admin` through the TLS proxy, which says who the client is."""
    headers = {
        "Host": HOST,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": forwarded_for,
        "Origin": f"https://{HOST}",
    }
    with httpx.Client(base_url=base_url, headers=headers, timeout=5, trust_env=False) as client:
        token = client.get("/login/").cookies["csrftoken"]
        # The cookie is Secure (HTTPS only); the proxy talks plain HTTP to uvicorn.
        return client.post(
            "/login/",
            data={"username": "admin", "password": password, "csrfmiddlewaretoken": token},
            headers={"Cookie": f"csrftoken={token}"},
        )


def test_behind_the_proxy_lockout_is_per_client_and_cannot_be_dodged(served: str) -> None:
    """Every request arrives from the proxy's address; the lockout must still tell clients apart."""
    attacker = "192.0.2.66"
    statuses = [sign_in_via_proxy(served, attacker, f"guess-{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]  # AXES_FAILURE_LIMIT=3 for this server
    assert sign_in_via_proxy(served, attacker, ADMIN_PASSWORD).status_code == 429
    # A forged X-Forwarded-For: the proxy appends the real address, and that one counts.
    forged = sign_in_via_proxy(served, f"198.51.100.1, {attacker}", ADMIN_PASSWORD)
    assert forged.status_code == 429
    assert "Sign-in locked" in forged.text

    owner = sign_in_via_proxy(served, "192.0.2.99", ADMIN_PASSWORD)
    assert owner.status_code == 302
    assert owner.headers["Location"] == "/"
