"""Where `ai_run` takes its prompt from, and the prompts it refuses before sending anything."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from aiconfig.models import CallLog
from tests.conftest import Manage, provider_env
from tests.fake_provider import FakeProvider

# Long and awkward to quote: quotes, a dollar sign, backticks, many lines, non-ASCII.
LONG_PROMPT = "\n".join(f'Line {n}: "quoted" $HOME `date` — café, naïve, 東京.' for n in range(400))


def sent_prompt(fake: FakeProvider) -> Any:
    """The user message of the last request the fake provider received."""
    body = fake.requests[-1].body
    assert body is not None
    return body["messages"][-1]["content"]


def run(*args: str, stdin: str | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    extra = {} if stdin is None else {"stdin": io.StringIO(stdin)}
    call_command("ai_run", *args, stdout=out, stderr=err, **extra)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t\n"])
def test_an_empty_prompt_is_refused_and_nothing_is_sent(
    manage: Manage, fake_provider: FakeProvider, prompt: str
) -> None:
    manage.env = provider_env(fake_provider)
    manage("migrate", "-v0")
    result = manage("ai_run", "text", prompt, check=False)
    assert result.returncode != 0
    assert "The prompt is empty; nothing was sent." in result.stderr
    assert "Traceback" not in result.stderr
    assert fake_provider.requests == []
    assert manage.json("ai_usage", "--json")["rows"] == []


def test_a_long_prompt_from_a_file(
    manage: Manage, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    manage.env = provider_env(fake_provider)
    manage("migrate", "-v0")
    path = tmp_path / "prompt.txt"
    path.write_text(LONG_PROMPT + "\n", encoding="utf-8")
    result = manage.json("ai_run", "text", "--prompt-file", str(path), "--json")
    assert result["text"].startswith("Hello from gpt-4.1: Line 0")
    # Every character arrives, the file's final newline does not.
    assert sent_prompt(fake_provider) == LONG_PROMPT


@pytest.mark.django_db
def test_a_prompt_from_standard_input(wired: FakeProvider) -> None:
    out, err = run("text", "-", stdin=LONG_PROMPT + "\n")
    assert out.startswith("Hello from gpt-4.1: Line 0")
    assert "openai/gpt-4.1" in err
    assert sent_prompt(wired) == LONG_PROMPT


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("text", "-"), "", "Standard input is empty; nothing was sent."),
        (("text", "-"), " \n\n", "Standard input is empty; nothing was sent."),
        (("text",), None, "No prompt. Give one:"),
        (("text", "hi", "--prompt-file", "x.txt"), None, "Give the prompt once"),
        (("text", "--prompt-file", "/nonexistent/prompt.txt"), None, "Cannot read the prompt"),
    ],
)
def test_a_missing_or_doubled_prompt_is_a_clear_error(
    wired: FakeProvider, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        run(*args, stdin=stdin)
    assert wired.requests == []
    assert CallLog.objects.count() == 0


@pytest.mark.django_db
def test_an_empty_or_binary_prompt_file_is_refused(wired: FakeProvider, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(CommandError, match=re.escape("empty.txt is empty; nothing was sent")):
        run("text", "--prompt-file", str(empty))
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(CommandError, match=re.escape("image.png is not UTF-8 text")):
        run("text", "--prompt-file", str(binary))
    assert wired.requests == []
