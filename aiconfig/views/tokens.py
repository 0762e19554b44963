"""The API tokens page: create (the token is shown once), list and revoke gateway tokens.

Everything here needs `aiconfig.manage_tokens` (endpoint admins and superusers): a
token spends the providers' keys, so even seeing who holds one is theirs to see.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from aiconfig.selectors import list_task_configs, list_tokens
from aiconfig.services.tokens import TokenError, create_token, parse_expires, revoke_token
from aiconfig.views.common import flash, post_with_permission

TEMPLATE = "aiconfig/tokens.html"
MANAGE_TOKENS = "aiconfig.manage_tokens"
EXPIRY_CHOICES = (("", "Never"), ("30d", "30 days"), ("90d", "90 days"), ("365d", "1 year"))


def _context(**extra: Any) -> dict[str, Any]:
    return {
        "nav": "tokens",
        "tokens": list_tokens(),
        "tasks": [config.task for config in list_task_configs()],
        "expiry_choices": EXPIRY_CHOICES,
        "form": {},
        **extra,
    }


@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """List tokens; POST creates one and shows it this once (never in a URL or session)."""
    if not request.user.has_perm(MANAGE_TOKENS):
        raise PermissionDenied("You need the 'manage_tokens' permission to manage API tokens.")
    if request.method != "POST":
        return render(request, TEMPLATE, _context())
    data = request.POST
    form = {
        "name": data.get("name", "").strip(),
        "tasks": data.getlist("tasks"),
        "expires": data.get("expires", ""),
        "rate_limit": data.get("rate_limit", "").strip(),
        "budget": data.get("budget", "").strip(),
    }
    try:
        rate = form["rate_limit"]
        if rate and not rate.isdigit():
            raise TokenError("The rate limit must be a positive number of requests per minute.")
        new = create_token(
            name=form["name"],
            tasks=form["tasks"],
            expires_at=parse_expires(form["expires"]) if form["expires"] else None,
            rate_limit_per_minute=int(rate) if rate else None,
            monthly_budget_usd=form["budget"] or None,
            user=request.user,
        )
    except TokenError as error:
        # Everything typed stays in the form, the reason next to it.
        context = _context(form=form, error=str(error))
        return render(request, TEMPLATE, context, status=400)
    response = render(request, TEMPLATE, _context(created=new))
    response["Cache-Control"] = "no-store"  # the page holds the token: keep it out of caches
    return response


@post_with_permission(MANAGE_TOKENS)
def api_token_revoke(request: HttpRequest, name: str) -> HttpResponse:
    """Revoke a token: requests with it are refused (401) from now on."""
    try:
        token = revoke_token(name=name, user=request.user)
    except TokenError as error:
        flash(request, str(error), level="error")
    else:
        flash(request, f"Revoked {token.name} ({token.prefix}…).")
    return redirect("api_tokens")
