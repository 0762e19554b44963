"""The page a client sees when django-axes has locked its sign-in."""

from __future__ import annotations

import math
from typing import Any

from axes.helpers import get_client_username, get_cool_off
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """Render the lockout page (status 429) saying when to try again and whom to ask.

    Axes calls this (`AXES_LOCKOUT_CALLABLE`) for the dashboard's and the admin's
    sign-in alike. The wait counts from this attempt: axes restarts the cool-off on
    every try during a lockout, so "now + cool-off" is the honest time to show.
    """
    cool_off = get_cool_off(request)
    context: dict[str, Any] = {
        # Axes' async middleware passes the credentials where the response should be;
        # the username is in the POST either way.
        "username": get_client_username(request, credentials) or "",
        "minutes": math.ceil(cool_off.total_seconds() / 60) if cool_off else None,
        "until": timezone.localtime(timezone.now() + cool_off) if cool_off else None,
    }
    return render(
        request, "aiconfig/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE
    )
