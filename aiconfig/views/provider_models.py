""" "Refresh models" on the Providers page: what a provider offers that we do not list, added.

Editors (`change_providermodel`) only. The provider's own list is read by
`services.model_refresh` with its stored endpoint and key (nothing posted can send
the key elsewhere); the missing models come back with guessed capabilities as
editable checkboxes and are added through the provider-models service (validation,
History). An HTMX partial in the card; without JavaScript, the page with it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.http import reswap, retarget

from aiconfig import selectors
from aiconfig.exceptions import AIConfigError
from aiconfig.models import Channel
from aiconfig.services import model_refresh
from aiconfig.services.model_refresh import ModelRefresh
from aiconfig.views.common import INVALID, post_with_permission, toast
from aiconfig.views.providers import TEMPLATE, _card, _done, _info_or_404, _page

CAPABILITIES = ("text", "image", "structured", "tools")
# More rows than any provider lists; a longer post is cut here.
MAX_REFRESH_ROWS = 2000


def _refresh_view(
    request: HttpRequest, name: str, refresh: ModelRefresh, *, status: int = 200
) -> HttpResponse:
    """The refresh result: the partial under HTMX, else the page with it in the card."""
    if not request.htmx:
        return _page(request, overrides={name: {"refresh": refresh}}, status=status)
    snapshot = selectors.config_snapshot()
    context = {"refresh": refresh, "info": _info_or_404(snapshot, name)}
    return render(request, f"{TEMPLATE}#model_refresh", context, status=status)


@post_with_permission("aiconfig.change_providermodel")
def provider_models_refresh(request: HttpRequest, name: str) -> HttpResponse:
    """ "Refresh models": the models the provider offers that are not listed, to add.

    Only the provider's name comes from the request: its stored base URL and key are
    used, as by "Test connection", whatever else is posted.
    """
    _info_or_404(selectors.config_snapshot(), name)
    refresh = model_refresh.refresh_models(provider=name, user=request.user)
    return _refresh_view(request, name, refresh)


def _posted_candidates(request: HttpRequest, name: str) -> list[model_refresh.Candidate]:
    """The refresh list as posted back: each row's name, capabilities and selection."""
    chosen = set(request.POST.getlist("add"))
    rows = []
    for index in range(min(int(request.POST.get("rows", "0") or 0), MAX_REFRESH_ROWS)):
        prefix = f"m-{index}-"
        model = request.POST.get(f"{prefix}name", "")
        if not model:
            continue
        flags = {c: request.POST.get(f"{prefix}{c}") == "on" for c in CAPABILITIES}
        rows.append(
            model_refresh.candidate(
                provider=name, name=model, selected=str(index) in chosen, **flags
            )
        )
    return rows


@post_with_permission("aiconfig.change_providermodel")
def provider_models_add(request: HttpRequest, name: str) -> HttpResponse:
    """ "Add selected": list the chosen models with the capabilities as (re)checked."""
    info = _info_or_404(selectors.config_snapshot(), name)
    if not (request.POST.get("rows", "") or "0").isdigit():
        raise Http404("Bad form.")
    rows = _posted_candidates(request, name)
    selected = [row for row in rows if row.selected]
    try:
        if not selected:
            raise ValidationError("Select at least one model to add.")
        added = model_refresh.add_models(
            provider=name, models=selected, channel=Channel.UI, user=request.user
        )
    except (ValidationError, AIConfigError) as exc:
        words = " ".join(getattr(exc, "messages", [str(exc)]))
        # The list comes back as posted, ticks and all, with the reason: nothing lost.
        refresh = model_refresh.ModelRefresh(
            name, True, "", missing=tuple(rows), error=f"Nothing added: {words}"
        )
        return _refresh_view(request, name, refresh, status=INVALID)
    plural = "s" if len(added) != 1 else ""
    message = f"Listed {len(added)} model{plural} under {info.display_name}: {', '.join(added)}."
    if not request.htmx:
        return _done(request, name, message)
    # The whole card: its model list has changed.
    response = toast(_card(request, name), message)
    retarget(response, f"#provider-{name}")
    reswap(response, "outerHTML")
    return response
