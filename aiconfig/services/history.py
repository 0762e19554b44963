"""Change history: every configuration write records who, when, and before/after.

The snapshots stored here are plain JSON, complete enough that reverting a change
is just applying its `before` state again through the normal services.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from aiconfig.models import (
    Channel,
    ConfigChange,
    ModelPrice,
    Provider,
    ProviderModel,
    TaskAssignment,
    TaskType,
)

State = dict[str, Any]

PROVIDER_FIELDS = (
    "label",
    "kind",
    "base_url",
    "api_key_env",
    "key_required",
    "enabled",
    "self_hosted",
    "pricing_id",
    "default_text_model",
    "default_image_model",
)
MODEL_FIELDS = ("supports_text", "supports_image", "supports_structured", "supports_tools", "notes")


def task_state(task: TaskType) -> State:
    """A task's full configuration as JSON-ready data."""
    state: State = {"output_kind": task.output_kind, "description": task.description}
    # Queried afresh: `task.assignment` may be a cached instance from before the write.
    assignment = TaskAssignment.objects.filter(task=task).first()
    if assignment is None:
        return state
    state.update(
        provider=assignment.provider,
        model=assignment.model,
        fallbacks=[
            {"provider": f.provider, "model": f.model}
            for f in assignment.fallbacks.order_by("position")
        ],
        timeout_seconds=assignment.timeout_seconds,
        max_retries=assignment.max_retries,
    )
    # Only when set, so the many changes made before the limit existed still compare equal.
    if assignment.total_timeout_seconds is not None:
        state["total_timeout_seconds"] = assignment.total_timeout_seconds
    return state


def provider_state(provider: Provider) -> State:
    """A provider's settings as JSON-ready data (the key itself is never part of it)."""
    return {name: getattr(provider, name) for name in PROVIDER_FIELDS}


def model_state(model: ProviderModel) -> State:
    """A listed model's capabilities as JSON-ready data."""
    return {name: getattr(model, name) for name in MODEL_FIELDS}


def price_state(price: ModelPrice) -> State:
    """A price override as JSON-ready data (decimals as strings, so they survive JSON)."""
    return {
        "provider": price.provider,
        "model": price.model,
        "image_size": price.image_size,
        "image_quality": price.image_quality,
        "input_per_million": _dec(price.input_per_million),
        "output_per_million": _dec(price.output_per_million),
        "per_image": _dec(price.per_image),
        "cached_input_per_million": _dec(price.cached_input_per_million),
        "cache_write_per_million": _dec(price.cache_write_per_million),
    }


def _dec(value: object) -> str | None:
    return None if value is None else str(value)


def _describe_route(state: State) -> str:
    return f"{state.get('provider')}/{state.get('model')}"


def describe_change(target_type: str, before: State | None, after: State | None) -> str:
    """A one-line human summary of what changed."""
    if before is None and after is not None:
        if target_type == ConfigChange.Target.TASK and "provider" in after:
            return f"created → {_describe_route(after)}"
        return "created"
    if after is None:
        return "deleted"
    assert before is not None
    parts: list[str] = []
    if target_type == ConfigChange.Target.TASK:
        if (before.get("provider"), before.get("model")) != (
            after.get("provider"),
            after.get("model"),
        ):
            parts.append(f"primary {_describe_route(before)} → {_describe_route(after)}")
        if before.get("fallbacks") != after.get("fallbacks"):
            old = ", ".join(_describe_route(f) for f in before.get("fallbacks") or []) or "none"
            new = ", ".join(_describe_route(f) for f in after.get("fallbacks") or []) or "none"
            parts.append(f"fallbacks {old} → {new}")
        for key, label in (
            ("timeout_seconds", "timeout"),
            ("max_retries", "retries"),
            ("total_timeout_seconds", "total time limit"),
            ("output_kind", "output"),
            ("description", "description"),
        ):
            if before.get(key) != after.get(key):
                parts.append(f"{label} {before.get(key)} → {after.get(key)}")
    else:
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                parts.append(f"{key} {before.get(key)!r} → {after.get(key)!r}")
    return "; ".join(parts) or "no change"


def _who(change: ConfigChange) -> str:
    if change.user is not None:
        return change.user.get_username()
    return f"via {Channel(change.channel).label}" if change.channel in Channel.values else ""


def describe_later_change(change: ConfigChange) -> str:
    """`#14 (timeout 60.0 → 30.0 by bob)`: a later change as a revert warning names it."""
    who = _who(change)
    return f"#{change.pk} ({change.summary}{' by ' + who if who else ''})"


def describe_revert(change: ConfigChange, later: list[ConfigChange]) -> str:
    """One sentence: what reverting `change` does, including to the later changes it undoes."""
    target = f"{ConfigChange.Target(change.target_type).label.lower()} '{change.target_name}'"
    if change.before is None:
        effect = f"deletes {target}"
    elif change.after is None:
        effect = f"re-creates {target} as it was before #{change.pk}"
    else:
        effect = f"puts {target} back as it was before #{change.pk}"
    sentence = f"Reverting #{change.pk} {effect}"
    if later:
        plural = "s" if len(later) > 1 else ""
        listed = ", ".join(describe_later_change(c) for c in later)
        sentence += f" and with it the later change{plural} {listed}"
    return sentence + "."


# Who made a change or a call: a user, an anonymous visitor, or nobody (code, env).
User = AbstractBaseUser | AnonymousUser | None


def known_user(user: User) -> AbstractBaseUser | None:
    """The user to store, or None for anonymous visitors and code."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user  # type: ignore[return-value]


def record_change(
    *,
    target_type: str,
    target_name: str,
    before: State | None,
    after: State | None,
    channel: str,
    user: User = None,
    reverts: ConfigChange | None = None,
    summary: str | None = None,
) -> ConfigChange:
    """Store one change. Its new id becomes the configuration version every process sees.

    `summary` replaces the generated one, for changes a before/after diff describes badly
    (a call-log prune says how many rows went, not "deleted").
    """
    if before is None:
        action = ConfigChange.Action.CREATE
    elif after is None:
        action = ConfigChange.Action.DELETE
    else:
        action = ConfigChange.Action.UPDATE
    if summary is None:
        summary = describe_change(target_type, before, after)
    if reverts is not None:
        summary = f"revert of #{reverts.pk}: {summary}"
    return ConfigChange.objects.create(
        target_type=target_type,
        target_name=target_name,
        action=action,
        before=before,
        after=after,
        channel=channel if channel in Channel.values else Channel.CODE,
        user=known_user(user),
        summary=summary[:500],
        reverts=reverts,
    )
