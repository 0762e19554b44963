"""The Providers page: each provider's card (never its key), and the disable step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aiconfig.presenters.common import CAPABILITY_LABELS, KIND_LABELS, Badge
from aiconfig.selectors import providers_in_use
from aiconfig.snapshots import ConfigSnapshot, ProviderInfo
from aiconfig.validation import ConfigProblem, check_provider


@dataclass(frozen=True, slots=True)
class ModelRow:
    """A listed model of a provider."""

    name: str
    badges: tuple[Badge, ...]
    notes: str
    is_default_text: bool
    is_default_image: bool


@dataclass(frozen=True, slots=True)
class ProviderCard:
    """Everything the Providers page shows about one provider; never the key itself."""

    info: ProviderInfo
    kind_label: str
    base_url: str
    base_url_is_sdk_default: bool
    key_env: str
    key_state: str  # "set", "missing", "missing-unused" or "not-needed"
    key_text: str
    models: tuple[ModelRow, ...]
    used_by: tuple[str, ...]
    problems: tuple[ConfigProblem, ...] = field(default=())

    @property
    def name(self) -> str:
        """The provider's name (its id in tasks and env vars)."""
        return self.info.name

    @property
    def dom_id(self) -> str:
        """The card's element id."""
        return f"provider-{self.info.name}"


def key_text(info: ProviderInfo, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The key's state and how to say it: ("set", "set …WXYZ"), ("missing", "missing")."""
    status = info.key_status(environ)
    if not status.env_var:
        return (
            ("missing", "no key variable configured")
            if status.required
            else (
                "not-needed",
                "not needed",
            )
        )
    if not status.allowed:
        return "missing", "not allowed as a key variable, never read"
    if status.is_set:
        return "set", f"set {status.masked}".strip()
    return ("missing", "missing") if status.required else ("not-needed", "not set (optional)")


def provider_card(
    info: ProviderInfo, snapshot: ConfigSnapshot, environ: Mapping[str, str] | None = None
) -> ProviderCard:
    """One provider's card, with its models sorted by name and the tasks that use it."""
    used_by = tuple(sorted(providers_in_use(snapshot).get(info.name, [])))
    state, text = key_text(info, environ)
    if state == "missing" and not used_by:
        # Red is for what breaks calls; a key no task needs yet is just information.
        state = "missing-unused"
    models = tuple(
        ModelRow(
            name=m.name,
            badges=tuple(Badge(c, CAPABILITY_LABELS[c]) for c in m.capabilities),
            notes=m.notes,
            is_default_text=m.name == info.default_text_model,
            is_default_image=m.name == info.default_image_model,
        )
        for m in sorted(info.models.values(), key=lambda m: m.name.lower())
    )
    return ProviderCard(
        info=info,
        kind_label=KIND_LABELS.get(info.kind, info.kind),
        base_url=info.effective_base_url,
        base_url_is_sdk_default=not info.base_url and bool(info.effective_base_url),
        key_env=info.api_key_env,
        key_state=state,
        key_text=text,
        models=models,
        used_by=used_by,
        problems=tuple(check_provider(provider=info, in_use_by=used_by)),
    )


def provider_cards(
    snapshot: ConfigSnapshot, environ: Mapping[str, str] | None = None
) -> list[ProviderCard]:
    """Every provider: those in use first, then enabled ones, then the rest; by name within."""
    used = providers_in_use(snapshot)
    infos = sorted(
        snapshot.providers.values(),
        key=lambda p: (p.name not in used, not p.enabled, p.name),
    )
    return [provider_card(p, snapshot, environ) for p in infos]


@dataclass(frozen=True, slots=True)
class DisablePlan:
    """The confirm step of turning a provider off: which tasks it serves, and what happens."""

    provider: str
    tasks: tuple[str, ...]
    stranded: tuple[str, ...]  # no other enabled provider in their chain: every call fails
    falls_back: tuple[str, ...]  # another enabled provider in their chain takes over


def disable_plan(info: ProviderInfo, snapshot: ConfigSnapshot) -> DisablePlan | None:
    """What disabling `info` does to the tasks that use it (None when no task does)."""
    stranded: list[str] = []
    falls_back: list[str] = []
    for config in sorted(snapshot.tasks.values(), key=lambda c: c.task):
        chain = [step.provider for step in config.chain]
        if info.name not in chain:
            continue
        others = [
            snapshot.providers[name]
            for name in chain
            if name != info.name and name in snapshot.providers
        ]
        (falls_back if any(p.enabled for p in others) else stranded).append(config.task)
    if not stranded and not falls_back:
        return None
    return DisablePlan(
        provider=info.display_name,
        tasks=tuple(sorted(stranded + falls_back)),
        stranded=tuple(stranded),
        falls_back=tuple(falls_back),
    )
