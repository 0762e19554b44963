"""`manage.py ai_config`: show, change, re-apply from env, and revert the AI configuration."""

from __future__ import annotations

import json
import os
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from aiconfig.exceptions import AIConfigError
from aiconfig.formatting import seconds
from aiconfig.models import Channel, ConfigChange, OutputKind
from aiconfig.selectors import list_changes, load_snapshot
from aiconfig.services import (
    ConfigValidationError,
    add_task,
    apply_env,
    delete_task,
    plan_env_apply,
    revert_change,
    update_task_config,
)
from aiconfig.services.model_refresh import add_models, refresh_models
from aiconfig.services.seeding import PlannedChange
from aiconfig.snapshots import ConfigSnapshot, TaskConfig
from aiconfig.validation import ConfigProblem, check_task_config


def task_json(
    config: TaskConfig,
    problems: list[ConfigProblem],
    snapshot: ConfigSnapshot,
    drift: PlannedChange | None = None,
) -> dict[str, Any]:
    """One task as the `--json` output shows it."""
    return {
        "task": config.task,
        "output_kind": config.output_kind,
        "description": config.description,
        "builtin": config.builtin,
        "provider": config.provider,
        "model": config.model,
        "source": config.primary.source,
        "model_defaulted": config.primary.model_defaulted,
        "capabilities": _capabilities(snapshot, config.provider, config.model),
        "fallbacks": [
            {
                "provider": f.provider,
                "model": f.model,
                "source": f.source,
                "model_defaulted": f.model_defaulted,
                "capabilities": _capabilities(snapshot, f.provider, f.model),
            }
            for f in config.fallbacks
        ],
        "timeout_seconds": config.timeout_seconds,
        "max_retries": config.max_retries,
        "total_timeout_seconds": config.total_timeout_seconds,
        "problems": [
            {"level": p.level, "code": p.code, "message": p.message, "fix": p.fix} for p in problems
        ],
        # What the environment asks for when it differs from the database (see apply-env).
        "env_differs": (
            {k: drift.after[k] for k in ("provider", "model", "fallbacks")} if drift else None
        ),
    }


def _capabilities(snapshot: ConfigSnapshot, provider: str, model: str) -> list[str] | None:
    info = snapshot.model_info(provider, model)
    return list(info.capabilities) if info else None


class Command(BaseCommand):
    """Show or change which provider and model serve each AI task."""

    # This command reports configuration problems itself, in context.
    requires_system_checks: list[str] = []
    help = (
        "Show each task's assignment (default), or: set TASK, add-task NAME, remove-task NAME, "
        "apply-env [--dry-run], history, revert CHANGE_ID."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Define the subcommands."""
        parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")
        sub = parser.add_subparsers(dest="action", required=False)

        show = sub.add_parser("show", help="Show every task (the default).")
        show.add_argument("--json", action="store_true", dest="json_sub")

        set_ = sub.add_parser("set", help="Change a task's assignment.")
        set_.add_argument("task")
        set_.add_argument("--provider")
        set_.add_argument("--model", help="Blank or omitted with --provider: its default model.")
        set_.add_argument(
            "--fallback",
            action="append",
            metavar="PROVIDER:MODEL",
            help="A fallback, in order; repeat for a chain. Replaces the current chain.",
        )
        set_.add_argument("--no-fallbacks", action="store_true", help="Remove every fallback.")
        set_.add_argument("--timeout", type=float, help="Seconds per attempt.")
        set_.add_argument("--retries", type=int, help="Retries of the same provider on failure.")
        set_.add_argument(
            "--total-timeout",
            type=float,
            help="Seconds for the whole call, fallbacks included; 0 removes the limit.",
        )

        add = sub.add_parser("add-task", help="Add a custom task type.")
        add.add_argument("name")
        add.add_argument("--output-kind", default=OutputKind.TEXT, choices=OutputKind.values)
        add.add_argument("--provider", required=True)
        add.add_argument("--model", default="")
        add.add_argument("--fallback", action="append", metavar="PROVIDER:MODEL")
        add.add_argument("--description", default="")

        remove = sub.add_parser("remove-task", help="Delete a custom task type.")
        remove.add_argument("name")

        env = sub.add_parser(
            "apply-env",
            help="Make the database follow the environment again for the tasks and base URLs "
            "it sets (edits to those are replaced).",
        )
        env.add_argument("--dry-run", action="store_true", help="Print the difference only.")
        env.add_argument("--task", action="append", help="Limit to these tasks.")

        history = sub.add_parser("history", help="List recent configuration changes.")
        history.add_argument("--limit", type=int, default=20)

        models = sub.add_parser("models", help="A provider's model list.")
        models.add_argument("models_action", choices=["refresh"], metavar="refresh")
        models.add_argument("provider")
        models.add_argument(
            "--add",
            action="store_true",
            help="List every missing model with its guessed capabilities (History records it).",
        )

        revert = sub.add_parser("revert", help="Undo one change (recorded as a new change).")
        revert.add_argument("change_id", type=int)
        revert.add_argument(
            "--confirm",
            action="store_true",
            help="Revert even though later changes to the same object are undone with it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Dispatch to the chosen subcommand, turning rule violations into CLI errors."""
        action = options.get("action") or "show"
        try:
            match action:
                case "show":
                    self._show(as_json=options["json"] or options.get("json_sub", False))
                case "set":
                    self._set(options)
                case "add-task":
                    self._add_task(options)
                case "remove-task":
                    delete_task(name=options["name"], channel=Channel.CLI)
                    self.stdout.write(f"Removed task '{options['name']}'.")
                case "apply-env":
                    self._apply_env(options)
                case "history":
                    self._history(options["limit"], as_json=options["json"])
                case "models":
                    self._refresh_models(options["provider"], add=options["add"])
                case "revert":
                    change = revert_change(
                        change_id=options["change_id"],
                        channel=Channel.CLI,
                        confirm_later_changes=options["confirm"],
                    )
                    self.stdout.write(f"#{change.pk} {change.target_name}: {change.summary}")
        except ConfigValidationError as exc:
            raise CommandError("\n".join(p.text for p in exc.problems)) from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        except (AIConfigError, ConfigChange.DoesNotExist) as exc:
            raise CommandError(str(exc)) from exc

    def _show(self, *, as_json: bool) -> None:
        snapshot = load_snapshot()
        drift = {
            change.name: change
            for change in plan_env_apply(environ=os.environ)
            if change.target_type == ConfigChange.Target.TASK
        }
        rows = []
        for config in snapshot.tasks.values():
            problems = check_task_config(
                config=config, providers=snapshot.providers, environ=os.environ
            )
            rows.append((config, problems))
        if as_json:
            payload = {
                "version": snapshot.version,
                "tasks": [task_json(c, p, snapshot, drift.get(c.task)) for c, p in rows],
                "providers": [
                    {
                        "name": p.name,
                        "kind": p.kind,
                        "base_url": p.effective_base_url,
                        "api_key_env": p.api_key_env,
                        "key_set": p.key_status().is_set,
                        "enabled": p.enabled,
                    }
                    for p in snapshot.providers.values()
                ],
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        for config, problems in rows:
            self.stdout.write(
                self.style.MIGRATE_HEADING(f"{config.task}")
                + f"  ({config.output_kind}) {config.description}"
            )
            for label, step in [("primary", config.primary)] + [
                (f"fallback {i}", f) for i, f in enumerate(config.fallbacks, start=1)
            ]:
                note = step.source + (", provider's default model" if step.model_defaulted else "")
                self.stdout.write(f"  {label:<11} {step.provider}/{step.model or '?':<36} [{note}]")
            self.stdout.write(
                f"  {'limits':<11} timeout {seconds(config.timeout_seconds)}, "
                f"retries {config.max_retries}"
                + (
                    f", total {seconds(config.total_timeout_seconds)}"
                    if config.total_timeout_seconds
                    else ""
                )
            )
            for problem in problems:
                style = self.style.ERROR if problem.is_error else self.style.WARNING
                self.stdout.write(style(f"  {problem.level}: {problem.text}"))
            if config.task in drift:
                self.stdout.write(
                    self.style.NOTICE(
                        f"  env differs: {drift[config.task].summary} "
                        f"(ai_config apply-env --task {config.task} to use it)"
                    )
                )
            self.stdout.write("")

    def _set(self, options: dict[str, Any]) -> None:
        if options["fallback"] and options["no_fallbacks"]:
            raise CommandError("Use either --fallback or --no-fallbacks, not both.")
        fallbacks = [] if options["no_fallbacks"] else options["fallback"]
        config = update_task_config(
            task=options["task"],
            provider=options["provider"],
            model=options["model"],
            fallbacks=fallbacks,
            timeout_seconds=options["timeout"],
            max_retries=options["retries"],
            total_timeout_seconds=options["total_timeout"],
            channel=Channel.CLI,
        )
        chain = " -> ".join(str(step.route) for step in config.chain)
        self.stdout.write(self.style.SUCCESS(f"{config.task}: {chain}"))

    def _add_task(self, options: dict[str, Any]) -> None:
        config = add_task(
            name=options["name"],
            output_kind=options["output_kind"],
            provider=options["provider"],
            model=options["model"],
            fallbacks=options["fallback"] or [],
            description=options["description"],
            channel=Channel.CLI,
        )
        chain = " -> ".join(str(step.route) for step in config.chain)
        self.stdout.write(self.style.SUCCESS(f"Added task {config.task}: {chain}"))

    def _apply_env(self, options: dict[str, Any]) -> None:
        dry_run = options["dry_run"]
        plan = apply_env(environ=os.environ, dry_run=dry_run, tasks=options["task"])
        if not plan:
            self.stdout.write("The database already matches the environment.")
            return
        verb = "Would change" if dry_run else "Changed"
        for change in plan:
            self.stdout.write(f"{verb} {change.target_type} {change.name}: {change.summary}")
            for problem in change.problems:
                self.stdout.write(f"    {problem.level}: {problem.text}")
        if dry_run:
            self.stdout.write("Dry run: nothing was written. Run without --dry-run to apply.")

    def _history(self, limit: int, *, as_json: bool) -> None:
        changes = list_changes()[:limit]
        if as_json:
            self.stdout.write(
                json.dumps(
                    [
                        {
                            "id": c.pk,
                            "at": c.created_at.isoformat(),
                            "user": c.user.get_username() if c.user else None,
                            "channel": c.channel,
                            "target": f"{c.target_type}:{c.target_name}",
                            "action": c.action,
                            "summary": c.summary,
                            "before": c.before,
                            "after": c.after,
                        }
                        for c in changes
                    ],
                    indent=2,
                )
            )
            return
        for c in changes:
            who = c.user.get_username() if c.user else "-"
            self.stdout.write(
                f"#{c.pk:<5} {c.created_at:%Y-%m-%d %H:%M:%S} {c.channel:<6} {who:<12} "
                f"{c.target_type} {c.target_name}: {c.summary}"
            )

    def _refresh_models(self, provider: str, *, add: bool) -> None:
        """The provider's models that are not listed (guessed capabilities); `add` lists them."""
        refresh = refresh_models(provider=provider)
        if not refresh.ok:
            raise CommandError(refresh.message)
        self.stdout.write(refresh.message)
        for m in refresh.missing:
            can = ", ".join(m.capabilities) or "nothing usable"
            price = f"  {m.price}" if m.price else ""
            self.stdout.write(f"  {m.name:<40} {can}{price}  ({m.basis})")
        if add and refresh.missing:
            added = add_models(provider=provider, models=refresh.missing, channel=Channel.CLI)
            self.stdout.write(f"Listed {len(added)} models under {provider}.")
