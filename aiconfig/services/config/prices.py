"""Writes to the price table that overrides the bundled price data."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from aiconfig.models import Channel, ConfigChange, ModelPrice
from aiconfig.services.history import User, price_state, record_change
from aiconfig.validation import (
    MAX_PROVIDER_NAME,
    check_length,
    check_model_name,
    raise_for_problems,
)

# --- prices ----------------------------------------------------------------------


def _price_key(provider: str, model: str, image_size: str, image_quality: str) -> str:
    extra = "/".join(x for x in (image_size, image_quality) if x)
    return f"{provider}/{model}" + (f" [{extra}]" if extra else "")


def save_model_price(
    *,
    provider: str,
    model: str,
    input_per_million: Decimal | str | None = None,
    output_per_million: Decimal | str | None = None,
    per_image: Decimal | str | None = None,
    image_size: str = "",
    image_quality: str = "",
    channel: str = Channel.CODE,
    user: User = None,
    cached_input_per_million: Decimal | str | None = None,
    cache_write_per_million: Decimal | str | None = None,
) -> None:
    """Set a price that overrides the bundled prices for one provider's model.

    Cache rates left blank bill cache reads / writes at the input price.
    """
    provider, model = provider.strip().lower(), model.strip()
    if not provider or not model:
        raise ValidationError("A price needs a provider and a model.")
    raise_for_problems(
        check_length(provider, limit=MAX_PROVIDER_NAME, field="provider", what="Provider name")
        + check_model_name(model)
    )
    values: dict[str, Decimal | None] = {}
    for name, raw in (
        ("input_per_million", input_per_million),
        ("output_per_million", output_per_million),
        ("per_image", per_image),
        ("cached_input_per_million", cached_input_per_million),
        ("cache_write_per_million", cache_write_per_million),
    ):
        try:
            value = None if raw in (None, "") else Decimal(str(raw))
        except InvalidOperation:
            raise ValidationError({name: [f"'{raw}' is not a number."]}) from None
        if value is not None and (value < 0 or not value.is_finite()):
            raise ValidationError({name: ["Prices cannot be negative."]})
        values[name] = value
    if all(v is None for v in values.values()):
        raise ValidationError("Give a token price, an image price, or both.")
    with transaction.atomic():
        row = ModelPrice.objects.filter(
            provider=provider, model=model, image_size=image_size, image_quality=image_quality
        ).first()
        before = price_state(row) if row else None
        row = row or ModelPrice(
            provider=provider, model=model, image_size=image_size, image_quality=image_quality
        )
        for name, value in values.items():
            setattr(row, name, value)
        row.save()
        after = price_state(row)
        if after != before:
            record_change(
                target_type=ConfigChange.Target.PRICE,
                target_name=_price_key(provider, model, image_size, image_quality),
                before=before,
                after=after,
                channel=channel,
                user=user,
            )


def delete_model_price(
    *,
    provider: str,
    model: str,
    image_size: str = "",
    image_quality: str = "",
    channel: str = Channel.CODE,
    user: User = None,
) -> None:
    """Remove a price override; the bundled price applies again."""
    with transaction.atomic():
        row = ModelPrice.objects.filter(
            provider=provider, model=model, image_size=image_size, image_quality=image_quality
        ).first()
        if row is None:
            raise ValidationError(f"No price override for {provider}/{model}.")
        before = price_state(row)
        row.delete()
        record_change(
            target_type=ConfigChange.Target.PRICE,
            target_name=_price_key(provider, model, image_size, image_quality),
            before=before,
            after=None,
            channel=channel,
            user=user,
        )
