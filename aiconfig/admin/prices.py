"""The price table in the admin: overrides of the bundled price data."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from aiconfig import services
from aiconfig.admin.common import add_problems
from aiconfig.models import Channel, ModelPrice
from aiconfig.validation import check_model_name


class ModelPriceAdminForm(forms.ModelForm):
    """The model name follows the shared limits (length, no spaces or control characters)."""

    class Meta:
        model = ModelPrice
        fields = ("provider", "model")

    def clean(self) -> dict[str, Any]:
        """Checked here rather than in ModelPrice.clean(): models hold data only."""
        cleaned = super().clean() or {}
        if isinstance(cleaned.get("model"), str):
            add_problems(self, check_model_name(cleaned["model"].strip()))
        return cleaned


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    form = ModelPriceAdminForm
    list_display = (
        "provider",
        "model",
        "input_per_million",
        "output_per_million",
        "per_image",
        "image_size",
        "image_quality",
        "updated_at",
    )
    list_filter = ("provider",)
    search_fields = ("provider", "model")
    fields = (
        "provider",
        "model",
        "input_per_million",
        "output_per_million",
        "cached_input_per_million",
        "cache_write_per_million",
        "per_image",
        "image_size",
        "image_quality",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: ModelPrice | None = None) -> Any:
        # The key of a price is fixed once saved; add another row for another model.
        return ("provider", "model", "image_size", "image_quality") if obj else ()

    def save_model(self, request: HttpRequest, obj: ModelPrice, form: Any, change: bool) -> None:
        services.save_model_price(
            provider=obj.provider,
            model=obj.model,
            input_per_million=obj.input_per_million,
            output_per_million=obj.output_per_million,
            per_image=obj.per_image,
            cached_input_per_million=obj.cached_input_per_million,
            cache_write_per_million=obj.cache_write_per_million,
            image_size=obj.image_size,
            image_quality=obj.image_quality,
            channel=Channel.ADMIN,
            user=request.user,
        )
        saved = ModelPrice.objects.get(
            provider=obj.provider.strip().lower(),
            model=obj.model.strip(),
            image_size=obj.image_size,
            image_quality=obj.image_quality,
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: ModelPrice) -> None:
        services.delete_model_price(
            provider=obj.provider,
            model=obj.model,
            image_size=obj.image_size,
            image_quality=obj.image_quality,
            channel=Channel.ADMIN,
            user=request.user,
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelPrice]) -> None:
        for price in queryset:
            self.delete_model(request, price)
