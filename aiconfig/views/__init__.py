"""Dashboard views: thin handlers that read through `selectors` and write through `services`.

Every page needs a signed-in user (LoginRequiredMiddleware); every POST also checks
the permission for what it changes and answers 403 without one, whatever the page
showed. Under HTMX a view answers with one partial of the page's template
(`"aiconfig/tasks.html#task_card"`); without JavaScript the same URLs take plain
form posts and answer with a redirect or the whole page.
"""

from __future__ import annotations

from aiconfig.views.history import change_revert, history
from aiconfig.views.playground import (
    playground_export,
    playground_export_markdown,
    playground_image,
    playground_page,
    playground_promote,
    playground_run,
)
from aiconfig.views.playground_stream import playground_stream
from aiconfig.views.provider_models import provider_models_add, provider_models_refresh
from aiconfig.views.providers import (
    provider_add,
    provider_card,
    provider_edit,
    provider_model_add,
    provider_test,
    provider_toggle,
    providers,
)
from aiconfig.views.tasks import model_options, task_add, task_card, task_edit, task_try, tasks
from aiconfig.views.usage import usage, usage_csv

__all__ = [
    "change_revert",
    "history",
    "model_options",
    "playground_export",
    "playground_export_markdown",
    "playground_image",
    "playground_page",
    "playground_promote",
    "playground_run",
    "playground_stream",
    "provider_add",
    "provider_card",
    "provider_edit",
    "provider_model_add",
    "provider_models_add",
    "provider_models_refresh",
    "provider_test",
    "provider_toggle",
    "providers",
    "task_add",
    "task_card",
    "task_edit",
    "task_try",
    "tasks",
    "usage",
    "usage_csv",
]
