"""A provider's model list kept current: what it offers that we do not list, and adding it.

`refresh_models` reads the provider's own list (`/models`, through its adapter and
official SDK) exactly as "Test connection" does: the provider's stored base URL and
key, the same endpoint rules, errors in words with any key removed. Nothing in the
request can send the key elsewhere: the caller names a provider, nothing more.
The models missing from our list come back with capabilities guessed from the
bundled price data (`known_models`), to be checked before `add_models` saves them
through `save_provider_model` (validation and History, one entry per model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from aiconfig.known_models import Guess, guess
from aiconfig.models import Channel
from aiconfig.selectors import config_snapshot
from aiconfig.services.calls.connection import test_provider_connection
from aiconfig.services.config import save_provider_model
from aiconfig.services.history import User


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model to add, with the capabilities to give it (as guessed, or as edited)."""

    name: str
    text: bool = False
    image: bool = False
    structured: bool = False
    tools: bool = False
    price: str = ""
    basis: str = ""
    selected: bool = False

    @classmethod
    def from_guess(cls, found: Guess) -> Candidate:
        """A candidate with the guessed capabilities, not yet selected."""
        return cls(
            found.name,
            found.text,
            found.image,
            found.structured,
            found.tools,
            found.price,
            found.basis,
        )

    @property
    def capabilities(self) -> tuple[str, ...]:
        """The capability names set, in the catalog's order."""
        return tuple(c for c in ("text", "image", "structured", "tools") if getattr(self, c))


@dataclass(frozen=True, slots=True)
class ModelRefresh:
    """What a provider's model list said: the models we lack, or why it could not be read."""

    provider: str
    ok: bool
    message: str
    offered: int = 0  # how many models the provider listed
    missing: tuple[Candidate, ...] = ()
    error: str = ""  # a refused "Add selected", in words


def refresh_models(*, provider: str, user: User = None) -> ModelRefresh:
    """Read the provider's model list; the ones we do not list, capabilities guessed."""
    check = test_provider_connection(provider=provider, user=user)
    if not check.ok:
        return ModelRefresh(provider, False, check.message)
    info = config_snapshot().providers[provider]
    offered = sorted(set(check.models))
    missing = tuple(
        Candidate.from_guess(guess(info.pricing_id, name))
        for name in offered
        if name not in info.models
    )
    if missing:
        name, count = info.display_name, len(offered)
        message = f"{name} offers {count} models; {len(missing)} are not listed here."
    else:
        message = f"All {len(offered)} models {info.display_name} offers are listed here."
    return ModelRefresh(provider, True, message, len(offered), missing)


def candidate(
    *,
    provider: str,
    name: str,
    text: bool,
    image: bool,
    structured: bool,
    tools: bool,
    selected: bool,
) -> Candidate:
    """A candidate as a form posted it back: its price and basis looked up again."""
    info = config_snapshot().providers.get(provider)
    found = guess(info.pricing_id if info else "", name)
    return Candidate(name, text, image, structured, tools, found.price, found.basis, selected)


def add_models(
    *,
    provider: str,
    models: Sequence[Candidate],
    channel: str = Channel.CODE,
    user: User = None,
) -> list[str]:
    """List every model given under `provider` (all or none); their names.

    Each goes through `save_provider_model` (name rules, History). A refused one
    raises its `ValidationError` and nothing is saved.
    """
    with transaction.atomic():
        for model in models:
            save_provider_model(
                provider=provider,
                name=model.name,
                supports_text=model.text,
                supports_image=model.image,
                supports_structured=model.structured,
                supports_tools=model.tools,
                notes="Added by Refresh models",
                channel=channel,
                user=user,
            )
    return [model.name.strip() for model in models]
