"""The Providers page: endpoints, key status (never the key), models, and "Test connection"."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_htmx.http import reswap, retarget

from aiconfig import presenters, selectors, services
from aiconfig.exceptions import AIConfigError, StaleEdit
from aiconfig.forms import AddModelForm, AddProviderForm, ProviderEditForm, add_service_errors
from aiconfig.models import Channel, ConfigChange, ProviderKind
from aiconfig.presenters import ProviderCard
from aiconfig.services import calls
from aiconfig.services.model_refresh import ModelRefresh
from aiconfig.snapshots import ConfigSnapshot, ProviderInfo
from aiconfig.views.common import (
    CONFLICT,
    INVALID,
    Abilities,
    abilities,
    flash,
    post_with_permission,
    toast,
)

TEMPLATE = "aiconfig/providers.html"


@dataclass(frozen=True, slots=True)
class ProviderState:
    """A provider card plus its forms: what one `provider_card` partial renders."""

    card: ProviderCard
    edit_form: ProviderEditForm | None
    model_form: AddModelForm | None
    editing: bool = False
    connection: calls.ConnectionCheck | None = None
    error: str = ""
    # Set while asking "disable it?" for a provider that tasks use.
    confirm_disable: presenters.DisablePlan | None = None
    # "Refresh models": what the provider offers that is not listed (or why not).
    refresh: ModelRefresh | None = None

    @property
    def name(self) -> str:
        """The provider's name."""
        return self.card.name


def _info_or_404(snapshot: ConfigSnapshot, name: str) -> ProviderInfo:
    info = snapshot.providers.get(name)
    if info is None:
        raise Http404(f"Unknown provider '{name}'.")
    return info


def _edit_form(info: ProviderInfo, *, can_manage_endpoints: bool) -> ProviderEditForm:
    """A blank settings form that remembers which version of the provider it shows."""
    version = selectors.change_version(
        target_type=ConfigChange.Target.PROVIDER, target_name=info.name
    )
    return ProviderEditForm(
        provider=info, version=version, can_manage_endpoints=can_manage_endpoints
    )


def provider_state(
    info: ProviderInfo, snapshot: ConfigSnapshot, can: Abilities, **overrides: Any
) -> ProviderState:
    """A provider card with blank forms for what the user may do."""
    state = ProviderState(
        card=presenters.provider_card(info, snapshot),
        edit_form=_edit_form(info, can_manage_endpoints=can.manage_endpoints)
        if can.edit_providers and "edit_form" not in overrides
        else None,
        model_form=AddModelForm(provider=info.name) if can.edit_models else None,
    )
    return replace(state, **overrides) if overrides else state


def _page(
    request: HttpRequest,
    *,
    overrides: dict[str, dict[str, Any]] | None = None,
    add_form: AddProviderForm | None = None,
    status: int = 200,
    partial: str = "",
) -> HttpResponse:
    snapshot = selectors.config_snapshot()
    can = abilities(request)
    overrides = overrides or {}
    states = [
        provider_state(card.info, snapshot, can, **overrides.get(card.name, {}))
        for card in presenters.provider_cards(snapshot)
    ]
    if add_form is None and can.add_providers:
        add_form = AddProviderForm(can_manage_endpoints=can.manage_endpoints)
    context = {"states": states, "can": can, "add_form": add_form, "nav": "providers"}
    name = f"{TEMPLATE}#{partial}" if partial else TEMPLATE
    return render(request, name, context, status=status)


def _card(request: HttpRequest, name: str, *, status: int = 200, **overrides: Any) -> HttpResponse:
    snapshot = selectors.config_snapshot()
    can = abilities(request)
    state = provider_state(_info_or_404(snapshot, name), snapshot, can, **overrides)
    return render(request, f"{TEMPLATE}#provider_card", {"state": state, "can": can}, status=status)


def _done(request: HttpRequest, name: str, message: str) -> HttpResponse:
    """After a successful change: the fresh card and a toast, or a redirect without HTMX."""
    if not request.htmx:
        flash(request, message)
        return redirect(f"{reverse('providers')}#provider-{name}")
    return toast(_card(request, name), message)


def _failed(
    request: HttpRequest, name: str, message: str, *, status: int = INVALID, **overrides: Any
) -> HttpResponse:
    """After a refused change: the card with the error, or the page without HTMX."""
    if not request.htmx:
        return _page(request, overrides={name: {"error": message, **overrides}}, status=status)
    return toast(
        _card(request, name, status=status, error=message, **overrides), message, level="error"
    )


def providers(request: HttpRequest) -> HttpResponse:
    """Every provider with its endpoint, key status, models and (with permission) forms.

    `?edit=<provider>` opens that provider's settings (the no-JavaScript "Edit" link).
    """
    editing = request.GET.get("edit", "")
    can = abilities(request)
    allowed = can.edit_providers or can.edit_models
    return _page(request, overrides={editing: {"editing": True}} if allowed and editing else None)


@require_GET
def provider_card(request: HttpRequest, name: str) -> HttpResponse:
    """One provider's card: as stored ("Done"), or with its settings open (`?edit=1`)."""
    editing = request.GET.get("edit") == "1"
    if not request.htmx:
        query = f"?edit={name}" if editing else ""
        return redirect(f"{reverse('providers')}{query}#provider-{name}")
    can = abilities(request)
    return _card(request, name, editing=editing and (can.edit_providers or can.edit_models))


@post_with_permission("aiconfig.change_provider")
def provider_toggle(request: HttpRequest, name: str) -> HttpResponse:
    """Enable or disable a provider (`enabled` = "true" / "false").

    Disabling a provider that tasks use first answers with a confirm step naming them
    (and which would be left with no enabled provider); only `confirm=1` disables it.
    """
    snapshot = selectors.config_snapshot()
    info = _info_or_404(snapshot, name)
    enabled = request.POST.get("enabled", "") == "true"
    if not enabled and info.enabled and request.POST.get("confirm") != "1":
        plan = presenters.disable_plan(info, snapshot)
        if plan is not None:
            if not request.htmx:
                return _page(request, overrides={name: {"confirm_disable": plan}})
            return _card(request, name, confirm_disable=plan)
    try:
        info = services.update_provider(
            name=name, enabled=enabled, channel=Channel.UI, user=request.user
        )
    except ValidationError as exc:
        return _failed(request, name, " ".join(exc.messages))
    state = "enabled" if info.enabled else "disabled — tasks that use it skip it"
    return _done(request, name, f"{info.label or info.name} {state}.")


@post_with_permission("aiconfig.change_provider")
def provider_edit(request: HttpRequest, name: str) -> HttpResponse:
    """Change a provider's label, default models and (endpoint admins) URL and key variable."""
    info = _info_or_404(selectors.config_snapshot(), name)
    form = ProviderEditForm(
        request.POST, provider=info, can_manage_endpoints=abilities(request).manage_endpoints
    )
    if form.is_valid():
        changes = form.changes()
        if not changes:
            return _done(request, name, "Nothing changed.")
        try:
            services.update_provider(
                name=name,
                channel=Channel.UI,
                user=request.user,
                expected_version=form.cleaned_data.get("version"),
                **changes,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except StaleEdit as exc:
            return _stale(request, name, form, exc)
        else:
            return _done(request, name, f"Saved {info.label or name}: {', '.join(changes)}.")
    overrides = {"edit_form": form, "editing": True}
    if not request.htmx:
        return _page(request, overrides={name: overrides}, status=INVALID)
    return _card(request, name, status=INVALID, **overrides)


def _stale(request: HttpRequest, name: str, form: ProviderEditForm, exc: StaleEdit) -> HttpResponse:
    """A save from an old version: the form again, on the new version, with what changed."""
    info = _info_or_404(selectors.config_snapshot(), name)
    opened = form.cleaned_data.get("version") or 0
    base = selectors.change_state(
        target_type=ConfigChange.Target.PROVIDER, target_name=name, change_id=opened
    )
    rebased = ProviderEditForm(
        form.rebased_data(base=base, current=info, version=exc.version),
        provider=info,
        can_manage_endpoints=abilities(request).manage_endpoints,
    )
    rebased.stale = presenters.stale_notice(exc)
    overrides = {"edit_form": rebased, "editing": True}
    if not request.htmx:
        return _page(request, overrides={name: overrides}, status=CONFLICT)
    return toast(
        _card(request, name, status=CONFLICT, **overrides),
        f"Not saved: '{name}' was changed since you opened it. Review, then save again.",
        level="error",
    )


@post_with_permission("aiconfig.change_providermodel")
def provider_model_add(request: HttpRequest, name: str) -> HttpResponse:
    """Add a model to a provider's list (or update the capabilities of a listed one)."""
    _info_or_404(selectors.config_snapshot(), name)
    form = AddModelForm(request.POST, provider=name)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.save_provider_model(
                provider=name,
                name=data["name"],
                supports_text=data["supports_text"],
                supports_image=data["supports_image"],
                supports_structured=data["supports_structured"],
                supports_tools=data["supports_tools"],
                notes=data["notes"],
                channel=Channel.UI,
                user=request.user,
            )
        except (ValidationError, AIConfigError) as exc:
            form.add_error(None, getattr(exc, "messages", [str(exc)]))
        else:
            return _done(request, name, f"Listed {data['name'].strip()} under {name}.")
    overrides = {"model_form": form, "editing": True}
    if not request.htmx:
        return _page(request, overrides={name: overrides}, status=INVALID)
    return _card(request, name, status=INVALID, **overrides)


@post_with_permission("aiconfig.run_task")
def provider_test(request: HttpRequest, name: str) -> HttpResponse:
    """ "Test connection": one real minimal request; success with latency, or the error."""
    info = _info_or_404(selectors.config_snapshot(), name)
    try:
        check = calls.test_provider_connection(provider=name, user=request.user)
    except (AIConfigError, ValidationError) as exc:
        check = calls.ConnectionCheck(
            ok=False, latency_ms=0.0, message=" ".join(getattr(exc, "messages", [str(exc)]))
        )
    result = check
    if request.htmx:
        context = {"result": result, "info": info}
        return render(request, f"{TEMPLATE}#connection_result", context)
    return _page(request, overrides={name: {"connection": result}})


@post_with_permission("aiconfig.add_provider")
def provider_add(request: HttpRequest) -> HttpResponse:
    """Add a custom OpenAI-compatible provider (a keyless one without manage_endpoints)."""
    form = AddProviderForm(request.POST, can_manage_endpoints=abilities(request).manage_endpoints)
    if form.is_valid():
        data = form.cleaned_data
        try:
            info = services.add_provider(
                name=data["name"],
                kind=ProviderKind.OPENAI_COMPATIBLE,
                label=data["label"],
                base_url=data["base_url"],
                self_hosted=data["self_hosted"],
                **form.provider_kwargs(),
                default_text_model=data["default_text_model"],
                channel=Channel.UI,
                user=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            message = f"Added provider '{info.name}'. Assign it to a task on the Tasks page."
            if not request.htmx:
                flash(request, message)
                return redirect(f"{reverse('providers')}#provider-{info.name}")
            response = _page(request, partial="providers_body")
            retarget(response, "#providers-body")
            reswap(response, "outerHTML")
            return toast(response, message)
    if request.htmx:
        return render(
            request,
            f"{TEMPLATE}#add_provider",
            {"add_form": form, "can": abilities(request)},
            status=INVALID,
        )
    return _page(request, add_form=form, status=INVALID)
