"""The configuration service: validated writes, history, revert, and cross-process visibility."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from django.core.exceptions import ValidationError

from aiconfig import selectors, services
from aiconfig.exceptions import UnknownTask
from aiconfig.models import ConfigChange, TaskAssignment
from aiconfig.services import ConfigValidationError
from aiconfig.snapshots import Route
from tests.conftest import ROOT, Manage

pytestmark = pytest.mark.django_db


def test_update_with_provider_only_uses_its_default_model() -> None:
    config = services.update_task_config(task="text", provider="anthropic")
    assert (config.provider, config.model) == ("anthropic", "claude-3-5-sonnet-20241022")
    assert config.primary.model_defaulted is True
    assert config.primary.source == "edited"


def test_update_sets_an_ordered_fallback_chain() -> None:
    config = services.update_task_config(
        task="text",
        provider="anthropic",
        model="claude-3-haiku-20240307",
        fallbacks=[("openai", "gpt-4o-mini"), "gemini:gemini-2.0-flash", Route("ollama", "")],
        timeout_seconds=12,
        max_retries=2,
    )
    assert [str(f.route) for f in config.fallbacks] == [
        "openai/gpt-4o-mini",
        "gemini/gemini-2.0-flash",
        "ollama/mistral",
    ]
    assert (config.timeout_seconds, config.max_retries) == (12.0, 2)
    assert selectors.get_task_config(task="text") == config


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"task": "image", "provider": "anthropic"}, "provider", "Anthropic does not generate"),
        ({"task": "text", "provider": "nosuch"}, "provider", "unknown provider 'nosuch'"),
        ({"task": "image", "provider": "ollama", "model": "mistral"}, "model", "cannot generate"),
        (
            {"task": "text", "fallbacks": [("openai", "gpt-4.1")]},
            "fallbacks.0.model",
            "same as the primary",
        ),
        (
            {"task": "video-slides", "model": "gpt-3.5-turbo"},
            "model",
            "cannot produce structured JSON",
        ),
        ({"task": "text", "timeout_seconds": 0}, "timeout_seconds", "out of range"),
        ({"task": "text", "max_retries": 9}, "max_retries", "out of range"),
    ],
)
def test_invalid_changes_are_refused_and_nothing_is_saved(
    kwargs: dict[str, object], field: str, text: str
) -> None:
    before = selectors.load_snapshot()
    with pytest.raises(ConfigValidationError) as excinfo:
        services.update_task_config(**kwargs)  # type: ignore[arg-type]
    assert field in excinfo.value.message_dict
    assert text in " ".join(excinfo.value.message_dict[field])
    after = selectors.load_snapshot()
    assert after.tasks == before.tasks
    assert after.version == before.version


def test_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(UnknownTask, match="Known tasks: agent, image, text, video-slides"):
        services.update_task_config(task="nope", provider="openai")


def test_missing_key_warns_but_does_not_block_saving() -> None:
    config = services.update_task_config(task="text", provider="gemini")
    assert config.provider == "gemini"


def test_unlisted_model_is_accepted() -> None:
    config = services.update_task_config(task="text", provider="openai", model="gpt-5-preview")
    assert config.model == "gpt-5-preview"


def test_add_task_validates_and_records() -> None:
    config = services.add_task(
        name="Summaries", output_kind="text", provider="anthropic", description="Short summaries"
    )
    assert config.task == "summaries"
    assert config.model == "claude-3-5-sonnet-20241022"
    change = ConfigChange.objects.first()
    assert change is not None
    assert (change.target_name, change.action) == ("summaries", "create")
    with pytest.raises(ValidationError, match="already exists"):
        services.add_task(name="summaries", provider="openai")
    with pytest.raises(ValidationError, match="not a valid task name"):
        services.add_task(name="9 lives!", provider="openai")
    with pytest.raises(ConfigValidationError):
        services.add_task(name="thumbnails", output_kind="image", provider="anthropic")
    assert "thumbnails" not in selectors.load_snapshot().tasks


def test_builtin_tasks_cannot_be_deleted_custom_ones_can() -> None:
    with pytest.raises(ValidationError, match="built-in"):
        services.delete_task(name="text")
    services.add_task(name="tags", provider="openai")
    services.delete_task(name="tags")
    assert "tags" not in selectors.load_snapshot().tasks


def test_every_change_is_recorded_and_revert_restores_it(django_user_model: object) -> None:
    services.update_task_config(task="text", provider="anthropic", fallbacks=["openai:gpt-4o"])
    change = ConfigChange.objects.first()
    assert change is not None
    assert change.before["provider"] == "openai"
    assert change.after["provider"] == "anthropic"
    assert change.after["fallbacks"] == [{"provider": "openai", "model": "gpt-4o"}]
    assert "openai/gpt-4.1 → anthropic/claude-3-5-sonnet-20241022" in change.summary

    revert = services.revert_change(change_id=change.pk)
    config = selectors.get_task_config(task="text")
    assert (config.provider, config.model, config.fallbacks) == ("openai", "gpt-4.1", ())
    assert revert.reverts == change
    assert revert.summary.startswith(f"revert of #{change.pk}")

    with pytest.raises(ValidationError, match="already as it was"):
        services.revert_change(change_id=change.pk)


def test_revert_of_a_created_task_deletes_it() -> None:
    services.add_task(name="captions", provider="openai")
    created = ConfigChange.objects.first()
    assert created is not None
    services.revert_change(change_id=created.pk)
    assert "captions" not in selectors.load_snapshot().tasks


def test_provider_edits_are_validated_and_recorded() -> None:
    with pytest.raises(ValidationError, match="not a valid http"):
        services.update_provider(name="ollama", base_url="localhost:11434")
    with pytest.raises(ValidationError, match="never the key itself") as excinfo:
        services.update_provider(name="openai", api_key_env="sk-proj-PASTED def")
    assert "PASTED" not in str(excinfo.value)
    info = services.update_provider(name="ollama", base_url="http://gpu-box:11434/v1")
    assert info.base_url == "http://gpu-box:11434/v1"
    change = ConfigChange.objects.first()
    assert change is not None
    assert change.target_name == "ollama"
    assert change.after["base_url"] == "http://gpu-box:11434/v1"


def test_custom_provider_lifecycle() -> None:
    services.add_provider(
        name="my-vllm",
        base_url="http://vllm:8000/v1",
        api_key_env="MY_VLLM_API_KEY",
        self_hosted=True,
    )
    services.save_provider_model(provider="my-vllm", name="qwen", supports_text=True)
    config = services.update_task_config(task="text", provider="my-vllm", model="qwen")
    assert config.provider == "my-vllm"
    with pytest.raises(ValidationError, match="used by text"):
        services.delete_provider(name="my-vllm")
    services.update_task_config(task="text", provider="openai")
    services.delete_provider(name="my-vllm")
    assert "my-vllm" not in selectors.load_snapshot().providers


def test_snapshot_reloads_only_when_the_version_moves() -> None:
    selectors.clear_config_cache()
    first = selectors.config_snapshot()
    assert selectors.config_version() == first.version
    services.update_task_config(task="text", model="gpt-4o")
    assert selectors.config_version() > first.version
    assert selectors.config_snapshot().tasks["text"].model == "gpt-4o"


@pytest.mark.django_db(transaction=True)
def test_cached_snapshot_costs_one_query(django_assert_num_queries: object) -> None:
    selectors.clear_config_cache()
    selectors.config_snapshot()
    with django_assert_num_queries(1):  # type: ignore[operator]
        selectors.get_task_config(task="text")
    TaskAssignment.objects.filter(task__name="text").update(model="gpt-4o")
    # A write that skipped the services is not seen: the version did not move.
    assert selectors.get_task_config(task="text").model == "gpt-4.1"
    services.update_task_config(task="text", model="gpt-4o-mini")
    assert selectors.get_task_config(task="text").model == "gpt-4o-mini"


def test_an_edit_in_one_process_reaches_another_without_restart(manage: Manage) -> None:
    manage("migrate", "-v0")
    script = textwrap.dedent(
        """
        import django, os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiconfig.settings")
        django.setup()
        from aiconfig.selectors import get_task_config
        print(get_task_config(task="text").model, flush=True)
        sys.stdin.readline()
        print(get_task_config(task="text").model, flush=True)
        """
    )
    env = manage.base_env()
    reader = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None
    assert reader.stdin is not None
    try:
        assert reader.stdout.readline().strip() == "gpt-4.1"
        manage("ai_config", "set", "text", "--model", "gpt-4o-mini")
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "gpt-4o-mini"
    finally:
        reader.kill()
        reader.wait()
    assert os.environ.get("AI_TEXT_MODEL") is None


def test_admin_forms_apply_the_same_rules() -> None:
    """The rules models' clean() used to apply (reading the database) now run in the forms."""
    from aiconfig.admin import ProviderAdminForm, TaskAssignmentAdminForm
    from aiconfig.models import Provider, TaskAssignment

    assignment = TaskAssignment.objects.get(task__name="image")
    data = {"provider": "anthropic", "model": "", "timeout_seconds": 30, "max_retries": 0}
    form = TaskAssignmentAdminForm(data=data, instance=assignment)
    assert not form.is_valid()
    assert "Anthropic does not generate images" in str(form.errors["provider"])
    form = TaskAssignmentAdminForm(
        data={**data, "provider": "openai", "timeout_seconds": 0}, instance=assignment
    )
    assert not form.is_valid()
    assert list(form.errors) == ["timeout_seconds"]

    provider = Provider.objects.get(name="ollama")
    fields = {f: getattr(provider, f) for f in ProviderAdminForm.Meta.fields}
    fields.update(base_url="ollama:11434", api_key_env="sk-not a variable")
    form = ProviderAdminForm(data=fields, instance=provider)
    assert not form.is_valid()
    assert {"base_url", "api_key_env"} <= set(form.errors)
