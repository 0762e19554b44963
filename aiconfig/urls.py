"""URL routes: the dashboard (Tasks, Providers, History), sign-in, and the Django admin."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path, reverse_lazy

from aiconfig import views
from aiconfig.views import budgets as budgets_views
from aiconfig.views import calls as calls_views
from aiconfig.views import tokens as tokens_views

urlpatterns = [
    path("", views.tasks, name="tasks"),
    path("tasks/add/", views.task_add, name="task_add"),
    path("tasks/<slug:task>/card/", views.task_card, name="task_card"),
    path("tasks/<slug:task>/edit/", views.task_edit, name="task_edit"),
    path("tasks/<slug:task>/try/", views.task_try, name="task_try"),
    path("model-options/", views.model_options, name="model_options"),
    path("providers/", views.providers, name="providers"),
    path("providers/add/", views.provider_add, name="provider_add"),
    path("providers/<slug:name>/card/", views.provider_card, name="provider_card"),
    path("providers/<slug:name>/edit/", views.provider_edit, name="provider_edit"),
    path("providers/<slug:name>/enabled/", views.provider_toggle, name="provider_toggle"),
    path("providers/<slug:name>/test/", views.provider_test, name="provider_test"),
    path("providers/<slug:name>/models/", views.provider_model_add, name="provider_model_add"),
    path(
        "providers/<slug:name>/models/refresh/",
        views.provider_models_refresh,
        name="provider_models_refresh",
    ),
    path(
        "providers/<slug:name>/models/add-selected/",
        views.provider_models_add,
        name="provider_models_add",
    ),
    path("usage/", views.usage, name="usage"),
    path("usage/export.csv", views.usage_csv, name="usage_csv"),
    path("budgets/", budgets_views.budgets, name="budgets"),
    path("budgets/delete/", budgets_views.budget_delete, name="budget_delete"),
    path("budgets/rules/", budgets_views.alert_rule_save, name="alert_rule_save"),
    path("budgets/rules/delete/", budgets_views.alert_rule_delete, name="alert_rule_delete"),
    path("history/", views.history, name="history"),
    path("calls/", calls_views.calls, name="calls"),
    path("calls/export.csv", calls_views.calls_csv, name="calls_csv"),
    path("calls/<uuid:request_id>/", calls_views.call_detail, name="call_detail"),
    path("playground/", views.playground_page, name="playground"),
    path("playground/stream/", views.playground_stream, name="playground_stream"),
    path("playground/runs/<int:run_id>/", views.playground_run, name="playground_run"),
    path(
        "playground/runs/<int:run_id>/export.json",
        views.playground_export,
        name="playground_export",
    ),
    path(
        "playground/runs/<int:run_id>/export.md",
        views.playground_export_markdown,
        name="playground_export_markdown",
    ),
    path(
        "playground/runs/<int:run_id>/promote/", views.playground_promote, name="playground_promote"
    ),
    path(
        "playground/runs/<int:run_id>/images/<int:column>/<int:position>/",
        views.playground_image,
        name="playground_image",
    ),
    path("tokens/", tokens_views.api_tokens, name="api_tokens"),
    path("tokens/<slug:name>/revoke/", tokens_views.api_token_revoke, name="api_token_revoke"),
    path("history/<int:change_id>/revert/", views.change_revert, name="change_revert"),
    path(
        "login/",
        login_not_required(
            auth_views.LoginView.as_view(
                template_name="aiconfig/login.html", redirect_authenticated_user=True
            )
        ),
        name="login",
    ),
    # Django's LogoutView only accepts POST, so a link or a prefetch cannot sign anyone out.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            template_name="aiconfig/password_change.html",
            success_url=reverse_lazy("password_change_done"),
        ),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="aiconfig/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    # The HTTP gateway: token auth, no session, no CSRF (see aiconfig/gateway/).
    path("v1/", include("aiconfig.gateway.urls")),
]
