"""The Tasks page (home): each task's chain, inline editing, "Try it", and adding a task."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_htmx.http import reswap, retarget

from aiconfig import presenters, selectors, services
from aiconfig.exceptions import AIConfigError, StaleEdit
from aiconfig.forms import (
    AddTaskForm,
    TaskDraft,
    TaskEditForm,
    TryForm,
    add_service_errors,
    posted_version,
)
from aiconfig.known_models import picker_models
from aiconfig.models import Channel, ConfigChange, OutputKind
from aiconfig.presenters import TaskCard, TryResult
from aiconfig.presenters.budgets import BudgetRow, badges_for, task_budgets
from aiconfig.selectors.budgets import budget_statuses
from aiconfig.services import calls
from aiconfig.snapshots import ConfigSnapshot, TaskConfig
from aiconfig.views.common import (
    CONFLICT,
    INVALID,
    Abilities,
    abilities,
    flash,
    post_with_permission,
    toast,
)

TEMPLATE = "aiconfig/tasks.html"
_DOM_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")

PROMPT_PLACEHOLDERS: dict[str, str] = {
    OutputKind.TEXT: "Write a one-line tagline for a bakery.",
    OutputKind.IMAGE: "A lighthouse at dawn, watercolour.",
    OutputKind.STRUCTURED: "Three slides about composting at home.",
    OutputKind.TOOLS: "What is the weather in Lisbon?",
}


@dataclass(frozen=True, slots=True)
class CardState:
    """A task card plus its forms: what one `task_card` partial renders."""

    card: TaskCard
    form: TaskEditForm | None
    try_form: TryForm | None
    editing: bool = False
    try_result: TryResult | None = None
    # The budgets that concern this task, with their spend (presenters.budgets).
    budgets: tuple[BudgetRow, ...] = ()

    @property
    def name(self) -> str:
        """The task's name."""
        return self.card.name


def _config_or_404(snapshot: ConfigSnapshot, task: str) -> TaskConfig:
    config = snapshot.tasks.get(task)
    if config is None:
        raise Http404(f"Unknown task '{task}'.")
    return config


def card_state(
    config: TaskConfig, snapshot: ConfigSnapshot, can: Abilities, **overrides: Any
) -> CardState:
    """A card with blank forms for what the user may do; `overrides` replace any part."""
    placeholder = PROMPT_PLACEHOLDERS.get(config.output_kind, "")
    form = None
    if can.edit_tasks and "form" not in overrides:
        version = selectors.change_version(
            target_type=ConfigChange.Target.TASK, target_name=config.task
        )
        form = TaskEditForm(config=config, providers=snapshot.providers, version=version)
    state = CardState(
        card=presenters.task_card(config, snapshot),
        form=form,
        try_form=TryForm(task=config.task, placeholder=placeholder) if can.run else None,
    )
    return replace(state, **overrides) if overrides else state


def _page(
    request: HttpRequest,
    *,
    overrides: dict[str, dict[str, Any]] | None = None,
    add_form: AddTaskForm | None = None,
    status: int = 200,
    partial: str = "",
) -> HttpResponse:
    """The Tasks page (or one `partial` of it); `overrides` customise one card."""
    snapshot = selectors.config_snapshot()
    can = abilities(request)
    overrides = overrides or {}
    configs = sorted(snapshot.tasks.values(), key=lambda c: (not c.builtin, c.task))
    badges = task_budgets(budget_statuses())
    states = [
        card_state(
            c, snapshot, can, **{"budgets": badges_for(badges, c.task), **overrides.get(c.task, {})}
        )
        for c in configs
    ]
    if add_form is None and can.add_tasks:
        add_form = AddTaskForm(providers=snapshot.providers)
    context = {
        "states": states,
        "can": can,
        "add_form": add_form,
        "problem_count": sum(len(s.card.errors) for s in states),
        "warning_count": sum(len(s.card.warnings) for s in states),
        "nav": "tasks",
    }
    name = f"{TEMPLATE}#{partial}" if partial else TEMPLATE
    return render(request, name, context, status=status)


def _card(request: HttpRequest, state: CardState, *, status: int = 200) -> HttpResponse:
    badges = task_budgets(budget_statuses(task=state.name))
    state = replace(state, budgets=badges_for(badges, state.name))
    return render(
        request,
        f"{TEMPLATE}#task_card",
        {"state": state, "can": abilities(request)},
        status=status,
    )


def tasks(request: HttpRequest) -> HttpResponse:
    """The home page: every task, its chain, problems, and (with permission) its forms.

    `?edit=<task>` opens that task's editor (the no-JavaScript "Edit" link).
    """
    editing = request.GET.get("edit", "")
    can_edit = abilities(request).edit_tasks
    return _page(request, overrides={editing: {"editing": True}} if can_edit and editing else None)


@require_GET
def task_card(request: HttpRequest, task: str) -> HttpResponse:
    """One task's card: as stored ("Cancel"), or with its editor open (`?edit=1`).

    Without HTMX it redirects to the page, at the card.
    """
    editing = request.GET.get("edit") == "1"
    if not request.htmx:
        query = f"?edit={task}" if editing else ""
        return redirect(f"{reverse('tasks')}{query}#task-{task}")
    snapshot = selectors.config_snapshot()
    config = _config_or_404(snapshot, task)
    can = abilities(request)
    return _card(request, card_state(config, snapshot, can, editing=editing and can.edit_tasks))


def _saved_message(config: TaskConfig) -> str:
    chain = ", then ".join(str(step.route) for step in config.chain)
    return f"Saved — next call uses {chain}."


@post_with_permission("aiconfig.change_taskassignment")
def task_edit(request: HttpRequest, task: str) -> HttpResponse:
    """Save a task's assignment, or apply a fallback row button and show the form again.

    Row buttons (`action` = "add_fallback", "remove:N", "up:N", "down:N") only
    re-render the form with the rows changed; nothing is saved until "save".
    """
    snapshot = selectors.config_snapshot()
    config = _config_or_404(snapshot, task)
    can = abilities(request)
    action = request.POST.get("action", "save")

    if action != "save":
        draft = TaskDraft.from_data(request.POST, prefix=task).apply(action)
        # The version the form was opened at travels on: a row button is not a fresh look.
        version = posted_version(request.POST, prefix=task)
        form = TaskEditForm(
            config=config, providers=snapshot.providers, draft=draft, version=version
        )
        if request.htmx:
            return _card(request, card_state(config, snapshot, can, form=form, editing=True))
        return _page(request, overrides={task: {"form": form, "editing": True}})

    form = TaskEditForm(request.POST, config=config, providers=snapshot.providers)
    if form.is_valid():
        try:
            saved = services.update_task_config(
                task=task, **form.service_kwargs(), channel=Channel.UI, user=request.user
            )
        except services.ConfigValidationError as exc:
            form.add_problems(exc.problems)
        except StaleEdit as exc:
            return _stale(request, task, form, exc)
        else:
            message = _saved_message(saved)
            if not request.htmx:
                flash(request, message)
                return redirect(f"{reverse('tasks')}#task-{task}")
            fresh = selectors.config_snapshot()
            state = card_state(_config_or_404(fresh, task), fresh, can)
            return toast(_card(request, state), message)

    if request.htmx:
        state = card_state(config, snapshot, can, form=form, editing=True)
        return toast(
            _card(request, state, status=INVALID),
            f"Not saved: fix the highlighted fields of '{task}'.",
            level="error",
        )
    return _page(request, overrides={task: {"form": form, "editing": True}}, status=INVALID)


def _stale(request: HttpRequest, task: str, form: TaskEditForm, exc: StaleEdit) -> HttpResponse:
    """A save from an old version: the form again, on the new version, with what changed.

    Parts the person edited keep their input; the rest shows the newer stored values,
    so a second Save applies their edit on top of the other person's.
    """
    snapshot = selectors.config_snapshot()
    config = _config_or_404(snapshot, task)
    can = abilities(request)
    mine = TaskDraft.from_data(request.POST, prefix=task)
    opened = form.cleaned_data.get("version")
    base = selectors.change_state(
        target_type=ConfigChange.Target.TASK, target_name=task, change_id=opened or 0
    )
    draft = mine
    if base is not None:
        draft = mine.rebase(base=TaskDraft.from_state(base), current=TaskDraft.from_config(config))
    rebased = TaskEditForm(
        draft.to_data(prefix=task, version=exc.version),
        config=config,
        providers=snapshot.providers,
    )
    rebased.stale = presenters.stale_notice(exc)
    if not request.htmx:
        return _page(request, overrides={task: {"form": rebased, "editing": True}}, status=CONFLICT)
    state = card_state(config, snapshot, can, form=rebased, editing=True)
    return toast(
        _card(request, state, status=CONFLICT),
        f"Not saved: '{task}' was changed since you opened it. Review, then save again.",
        level="error",
    )


@require_GET
def model_options(request: HttpRequest) -> HttpResponse:
    """The model <datalist> for the provider named in `request.GET[field]`.

    Lists the provider's models that can serve the output kind; the input that uses
    the list still accepts any typed name.
    """
    list_id = request.GET.get("list", "")
    if not _DOM_ID_RE.match(list_id):
        return HttpResponseBadRequest("Bad list id.")
    provider = request.GET.get(request.GET.get("field", ""), "")
    kind_field = request.GET.get("kind_field", "")
    kind = request.GET.get(kind_field, "") if kind_field else request.GET.get("kind", "")
    info = selectors.get_provider(name=provider)
    valid_kind = kind in OutputKind.values
    context = {
        "list_id": list_id,
        # Listed models, then the price data's known ones with their prices.
        "options": picker_models(info, kind) if info and valid_kind else [],
        "default_model": info.default_model_for(kind) if info and valid_kind else "",
    }
    return render(request, f"{TEMPLATE}#model_datalist", context)


def _run(task: str, prompt: str, user: Any) -> TryResult:
    """Run the prompt through the task's chain, as an app would."""
    try:
        run = calls.run_task(task=task, prompt=prompt, source=Channel.PLAYGROUND, user=user)
    except calls.TaskFailed as exc:
        return presenters.try_failure(task, str(exc), getattr(exc, "attempts", ()))
    except (AIConfigError, ValidationError) as exc:
        # Unknown task, a configuration error, a provider without its key...: words, not a 500.
        return presenters.try_failure(task, " ".join(getattr(exc, "messages", [str(exc)])))
    return presenters.try_result(run)


@post_with_permission("aiconfig.run_task")
def task_try(request: HttpRequest, task: str) -> HttpResponse:
    """ "Try it": run a short prompt through the task and show what came back."""
    snapshot = selectors.config_snapshot()
    _config_or_404(snapshot, task)
    form = TryForm(request.POST, task=task)
    if form.is_valid():
        result = _run(task, form.cleaned_data["prompt"], request.user)
        status = 200
    else:
        result = presenters.try_failure(task, " ".join(form.errors.get("prompt", [])))
        status = INVALID
    if request.htmx:
        return render(request, f"{TEMPLATE}#try_result", {"result": result}, status=status)
    return _page(request, overrides={task: {"try_form": form, "try_result": result}}, status=status)


@post_with_permission("aiconfig.add_tasktype")
def task_add(request: HttpRequest) -> HttpResponse:
    """Add a custom task type with its first provider and model."""
    snapshot = selectors.config_snapshot()
    form = AddTaskForm(request.POST, providers=snapshot.providers)
    if form.is_valid():
        data = form.cleaned_data
        try:
            created = services.add_task(
                name=data["name"],
                output_kind=data["output_kind"],
                provider=data["provider"],
                model=data["model"].strip(),
                description=data["description"],
                channel=Channel.UI,
                user=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            message = f"Added task '{created.task}' — it uses {created.primary.route}."
            if not request.htmx:
                flash(request, message)
                return redirect(f"{reverse('tasks')}#task-{created.task}")
            # The new card joins the list: swap the page's body, not just the form.
            response = _page(request, partial="tasks_body")
            retarget(response, "#tasks-body")
            reswap(response, "outerHTML")
            return toast(response, message)
    if request.htmx:
        return render(
            request,
            f"{TEMPLATE}#add_task",
            {"add_form": form, "can": abilities(request)},
            status=INVALID,
        )
    return _page(request, add_form=form, status=INVALID)
