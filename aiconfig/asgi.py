"""ASGI entry point."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiconfig.settings")

django_application = get_asgi_application()

from aiconfig.gateway.handler import with_gateway  # noqa: E402 - needs the apps loaded

# /v1/ (the HTTP gateway) skips the dashboard's middleware; see aiconfig/gateway/handler.py.
application = with_gateway(django_application)
