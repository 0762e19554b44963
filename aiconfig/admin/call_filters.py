"""The call-log admin's list filters and paginator, made for a log of millions of rows.

Django's default filter on a plain field lists its values with a `SELECT DISTINCT` over
the whole table, and its paginator counts every matching row. Here each filter's
choices come from what is already known without reading the log (the configured tasks
and providers, the API tokens, the error kinds the adapters raise), and the count stops
at `COUNT_CAP`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from aiconfig import selectors
from aiconfig.models import ApiToken

# Past this many matching rows the admin stops counting (the pages stop there too);
# the call explorer (/calls/) and its CSV reach every row.
COUNT_CAP = 100_000
# The kinds the adapters and the call loop log (adapters/errors.py, calls/log.py).
ERROR_KINDS = (
    "authentication_failed",
    "model_not_found",
    "rate_limited",
    "timed_out",
    "provider_error",
    "capability_not_supported",
    "invalid_request",
    "provider_not_initialized",
    "cancelled",
    "adapter_error",
)


class CappedCountPaginator(Paginator):
    """Counts at most `COUNT_CAP` + 1 rows: a bounded `COUNT` over a `LIMIT` subquery."""

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        """The number of rows, or `COUNT_CAP` + 1 when there are more."""
        # No ORDER BY inside the counted subquery: any index on the filter will do.
        return self.object_list.order_by()[: COUNT_CAP + 1].count()


class _ExactFilter(admin.SimpleListFilter):
    """A filter on one column whose choices are given, never read from the log."""

    field = ""

    def choices_from(self) -> list[str]:
        """The values to offer."""
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        """The offered values, each its own label."""
        return [(value, value) for value in self.choices_from()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Rows with the chosen value (any value typed into the URL works too)."""
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class TaskFilter(_ExactFilter):
    """By task: the configured tasks."""

    title = "task"
    parameter_name = field = "task"

    def choices_from(self) -> list[str]:
        """The configured tasks."""
        return sorted(selectors.config_snapshot().tasks)


class ProviderFilter(_ExactFilter):
    """By provider: the configured providers."""

    title = "provider"
    parameter_name = field = "provider"

    def choices_from(self) -> list[str]:
        """The configured providers."""
        return sorted(selectors.config_snapshot().providers)


class ApiTokenFilter(_ExactFilter):
    """By the gateway's API token."""

    title = "API token"
    parameter_name = field = "api_token"

    def choices_from(self) -> list[str]:
        """The gateway's tokens (a small table), by name."""
        return list(ApiToken.objects.order_by("name").values_list("name", flat=True))


class ErrorKindFilter(_ExactFilter):
    """By error kind: the kinds calls are logged with."""

    title = "error kind"
    parameter_name = field = "error_kind"

    def choices_from(self) -> list[str]:
        """The error kinds calls are logged with."""
        return list(ERROR_KINDS)
