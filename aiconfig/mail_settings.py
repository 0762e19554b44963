"""Where alert emails go: Django's MAILERS from one EMAIL_URL environment variable.

The URL takes django-environ's form: `smtp://user:password@host:port`,
`smtp+tls://…` (STARTTLS, port 587 by default), `smtp+ssl://…` (port 465),
`consolemail://` (printed to the server's output), `filemail:///path/to/dir`,
`dummymail://` (dropped). Without it mail goes to an SMTP server on localhost, as
Django's own default does.
"""

from __future__ import annotations

from typing import Any

import environ

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
# A mail server that accepts the connection and then says nothing must not hold the
# alert check (and its thread) forever.
SMTP_TIMEOUT_SECONDS = 10


def mailers_from_url(url: str) -> dict[str, dict[str, Any]]:
    """Django's MAILERS setting (one `default` mailer) for an EMAIL_URL.

    An unknown scheme raises ImproperlyConfigured naming it, before the server starts.
    """
    config = environ.Env.email_url_config(url)
    backend = config["EMAIL_BACKEND"]
    options: dict[str, Any] = {}
    if backend == SMTP_BACKEND:
        options = {
            "host": config["EMAIL_HOST"] or "localhost",
            "port": config["EMAIL_PORT"] or None,
            "username": config["EMAIL_HOST_USER"] or "",
            "password": config["EMAIL_HOST_PASSWORD"] or "",
            "use_tls": bool(config.get("EMAIL_USE_TLS")),
            "use_ssl": bool(config.get("EMAIL_USE_SSL")),
            "timeout": SMTP_TIMEOUT_SECONDS,
        }
    elif backend == FILE_BACKEND:
        options = {"file_path": "/" + config["EMAIL_FILE_PATH"]}
    return {"default": {"BACKEND": backend, "OPTIONS": options}}
