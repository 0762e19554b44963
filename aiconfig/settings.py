"""Settings for aiconfig: every knob comes from the environment (or a `.env` file)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from aiconfig.mail_settings import mailers_from_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# The test suite must not pick up a developer's own `.env` (keys, AI_* settings).
TESTING = "pytest" in sys.modules
# A `.env` next to manage.py fills in what the real environment lacks; the real
# environment always wins, so CI and containers can override any line of it.
ENV_FILE = env.path("AICONFIG_ENV_FILE", default=str(BASE_DIR / ".env"))
if Path(ENV_FILE).is_file() and not TESTING:
    environ.Env.read_env(str(ENV_FILE))

DEBUG = env.bool("DEBUG", default=False)

# Production means DEBUG off outside the test suite: the secure defaults below
# (HTTPS-only cookies, HSTS, SSL redirect) follow it, and each stays overridable by env.
PRODUCTION = not (DEBUG or TESTING)

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY", default="").strip()
    # One clear line and no traceback: this stops every command (check, migrate,
    # runserver) and the ASGI/WSGI import alike, before anything runs with a guessable key.
    if not SECRET_KEY:
        sys.exit(
            "aiconfig: SECRET_KEY is not set. Set it to a long random value (see"
            ' "Running in production" in the README), or DEBUG=true for development.'
        )
    if SECRET_KEY == DEV_SECRET_KEY:
        sys.exit(
            "aiconfig: SECRET_KEY is the public development key. Set a long random value"
            ' (see "Running in production" in the README), or DEBUG=true for development.'
        )
else:
    # A throwaway key is fine for local development and tests.
    SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "aiconfig",
    "django.contrib.admin",
    "django.contrib.auth",
    # Sign-in lockout after repeated wrong passwords (dashboard and admin alike).
    "axes",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # WhiteNoise, async-capable: a sync middleware would put every async view behind
    # thread hops (see aiconfig/middleware.py).
    "aiconfig.middleware.AsyncWhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Django's LoginRequiredMiddleware, sending HTMX requests to the login page whole.
    "aiconfig.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "aiconfig.urls"
WSGI_APPLICATION = "aiconfig.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dashboard read while a call writes its log row; NORMAL sync
    # keeps a log write well under a millisecond without risking corruption;
    # IMMEDIATE transactions plus a busy timeout turn lock contention into a
    # short wait instead of "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=20),
        }
    )
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes first: it refuses a locked-out client before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tasks"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` puts the hashed files whitenoise serves in production.
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed files in production; plain finders while developing and testing.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or TESTING)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "media"))

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
X_FRAME_OPTIONS = "DENY"

# --- HTTPS in production --------------------------------------------------
# Safe by default once DEBUG is off; `SECURE_HSTS_SECONDS=300` is the cautious first
# deploy, `SECURE_SSL_REDIRECT=false` suits a proxy that already redirects.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
# Opt-in only: trusting X-Forwarded-Proto is safe only behind a proxy that sets it on
# every request (a client could otherwise claim HTTPS). Format: HEADER,value.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if env.bool("BEHIND_TLS_PROXY", default=False) and not _proxy_ssl_header:
    _proxy_ssl_header = ["HTTP_X_FORWARDED_PROTO", "https"]
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2 or not _proxy_ssl_header[0].startswith("HTTP_"):
        sys.exit(
            "aiconfig: SECURE_PROXY_SSL_HEADER must look like HTTP_X_FORWARDED_PROTO,https"
            f" (got {','.join(_proxy_ssl_header)!r})."
        )
    SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header[0], _proxy_ssl_header[1])

# --- Sign-in lockout (django-axes) ----------------------------------------
# A username is locked for one client (IP address) after AXES_FAILURE_LIMIT wrong
# passwords in a row, for AXES_COOLOFF_MINUTES after the last try; the same user
# from another address, and other users, can still sign in. The client address is
# REMOTE_ADDR: uvicorn sets it from X-Forwarded-For only for FORWARDED_ALLOW_IPS.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# A right password before the limit forgives the earlier typos.
AXES_RESET_ON_SUCCESS = env.bool("AXES_RESET_ON_SUCCESS", default=True)
# The project's own page (429, when to try again, whom to ask) instead of axes' plain text.
AXES_LOCKOUT_CALLABLE = "aiconfig.lockout.lockout_response"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "filters": {"one_line_forbidden": {"()": "aiconfig.logfilters.OneLineForbidden"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {
        # A refused request (403) is one line with path, user and reason, not a traceback.
        "django.request": {"filters": ["one_line_forbidden"]},
        "aiconfig": {"level": env.str("AICONFIG_LOG_LEVEL", default="INFO"), "propagate": True},
    },
}

# --- aiconfig's own knobs -------------------------------------------------
# Store prompts and responses in the call log (off: only metadata is kept).
AICONFIG_LOG_PROMPTS = env.bool("AICONFIG_LOG_PROMPTS", default=False)
# Upper bound on how long a retry waits, even when a provider's Retry-After asks for more.
AICONFIG_RETRY_AFTER_CAP_SECONDS = env.float("AICONFIG_RETRY_AFTER_CAP_SECONDS", default=10.0)
# Where `ai_run` saves generated images.
# A call-log insert waits at most this long for another process's SQLite write lock;
# rows that still cannot be written are kept in memory and retried (see README).
AICONFIG_CALL_LOG_BUSY_TIMEOUT_SECONDS = env.float(
    "AICONFIG_CALL_LOG_BUSY_TIMEOUT_SECONDS", default=1.0
)
# How many routes a fan-out (playground comparison) runs at once.
AICONFIG_FANOUT_CONCURRENCY = env.int("AICONFIG_FANOUT_CONCURRENCY", default=4)
AICONFIG_IMAGE_DIR = env.path("AICONFIG_IMAGE_DIR", default=str(BASE_DIR / "media" / "images"))
# Which environment variables a provider may name as its key (comma-separated fnmatch
# patterns). A fixed denylist (SECRET_KEY, DATABASE_URL, PATH, DJANGO_*, AICONFIG_*, AI_*,
# ...) wins over this list: see aiconfig/endpoints.py.
AICONFIG_KEY_VARIABLES = env.list("AICONFIG_KEY_VARIABLES", default=["*_API_KEY", "*_TOKEN"])
# Loopback and private-network endpoints (Ollama, vLLM, LM Studio on the LAN). False
# refuses them too; link-local and cloud metadata addresses are refused either way.
AICONFIG_ALLOW_PRIVATE_ENDPOINTS = env.bool("AICONFIG_ALLOW_PRIVATE_ENDPOINTS", default=True)
# Budgets: how long a process trusts the spend it read (a call of its own adds at once).
AICONFIG_BUDGET_CACHE_SECONDS = env.float("AICONFIG_BUDGET_CACHE_SECONDS", default=5.0)
# Alerts are checked after calls at most this often per process (0: only `ai_alerts check`).
AICONFIG_ALERTS_AFTER_CALLS_SECONDS = env.float("AICONFIG_ALERTS_AFTER_CALLS_SECONDS", default=60.0)
AICONFIG_WEBHOOK_TIMEOUT_SECONDS = env.float("AICONFIG_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Alert emails go to the mailer of EMAIL_URL (aiconfig/mail_settings.py), from this sender.
try:
    MAILERS = mailers_from_url(env.str("EMAIL_URL", default="smtp://localhost:25"))
except ImproperlyConfigured as error:
    sys.exit(f"aiconfig: EMAIL_URL is not a mail URL ({error}); see .env.example.")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="aiconfig@localhost")
