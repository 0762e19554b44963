"""`manage.py ai_run TASK "prompt"`: run a prompt through a task's configured chain.

The prompt can also come from a file (`--prompt-file PATH`) or standard input (`-`),
for prompts too long or too awkward to quote on a command line.
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aiconfig.exceptions import AIConfigError
from aiconfig.formatting import ms, tokens, usd
from aiconfig.models import Channel
from aiconfig.pricing import format_usd
from aiconfig.services.calls import (
    Attempt,
    TaskFailed,
    TaskRun,
    call_log_health,
    call_log_problem,
    fan_out,
    run_task,
    stream_text,
    wait_for_call_log,
)

EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def attempts_json(attempts: tuple[Attempt, ...]) -> list[dict[str, Any]]:
    """The attempts as `--json` prints them."""
    return [
        {
            "attempt": a.attempt,
            "provider": a.provider,
            "model": a.model,
            "fallback": a.is_fallback,
            "outcome": a.outcome,
            "error_kind": a.error_kind or None,
            "error": a.error or None,
            "latency_ms": round(a.latency_ms, 1),
        }
        for a in attempts
    ]


def run_json(run: TaskRun, image_paths: list[str]) -> dict[str, Any]:
    """A successful run as `--json` prints it."""
    payload: dict[str, Any] = {
        "task": run.task,
        "output_kind": run.output_kind,
        "provider": run.provider,
        "model": run.model,
        "response_model": run.response_model,
        "fallback_used": run.fallback_used,
        "latency_ms": round(run.latency_ms, 1),
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "image_count": run.image_count,
        "cost_usd": format_usd(run.cost_usd),
        "request_id": str(run.request_id),
        "attempts": attempts_json(run.attempts),
    }
    if run.images:
        payload["images"] = image_paths
    elif run.slides:
        payload["slides"] = [
            {"image_prompt": s.image_prompt, "narration": s.narration} for s in run.slides
        ]
    else:
        payload["text"] = run.text
        if run.tool_calls:
            payload["tool_calls"] = [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in run.tool_calls
            ]
        elif run.data is not None and run.text is None:
            payload["data"] = run.data
    if run.log_error:
        payload["log_error"] = run.log_error
    return payload


def read_prompt(*, argument: str | None, prompt_file: Path | None, stdin: TextIO) -> str:
    """The prompt from the argument, `-` (standard input) or `--prompt-file`.

    Raises CommandError, before anything is sent, when there is no prompt, two of them,
    an unreadable file, or only whitespace (the dashboard's "Try it" refuses that too).
    """
    if argument is not None and prompt_file is not None:
        raise CommandError("Give the prompt once: as an argument or with --prompt-file, not both.")
    if prompt_file is not None:
        try:
            prompt = prompt_file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CommandError(f"The prompt file {prompt_file} is not UTF-8 text.") from None
        except OSError as exc:
            raise CommandError(
                f"Cannot read the prompt file {prompt_file}: {exc.strerror or exc}."
            ) from None
        where = f"The prompt file {prompt_file}"
    elif argument == "-":
        prompt = stdin.read()
        where = "Standard input"
    elif argument is not None:
        prompt = argument
        where = "The prompt"
    else:
        raise CommandError(
            'No prompt. Give one: ai_run TASK "prompt", ai_run TASK - (reads standard '
            "input) or ai_run TASK --prompt-file PATH."
        )
    if not prompt.strip():
        raise CommandError(f"{where} is empty; nothing was sent. Give a prompt with some text.")
    if argument is None or argument == "-":
        # A file or a pipe usually ends with a newline nobody meant as part of the prompt.
        prompt = prompt.rstrip("\r\n")
    return prompt


class Command(BaseCommand):
    """Run a task once, the way application code would, and show what happened."""

    help = (
        "Run a prompt through a task's provider chain. Text tasks print the text, image "
        "tasks save files and print their paths, video-slides prints the slides."
    )
    requires_system_checks: list[str] = []
    # `call_command("ai_run", "text", "-", stdin=...)` reads the prompt from that stream.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Task, prompt and output options."""
        parser.add_argument("task")
        parser.add_argument(
            "prompt",
            nargs="?",
            help='The prompt; "-" reads it from standard input.',
        )
        parser.add_argument(
            "--prompt-file",
            type=Path,
            metavar="PATH",
            help="Read the prompt from this UTF-8 text file instead.",
        )
        parser.add_argument("--json", action="store_true", help="Print the run as JSON.")
        parser.add_argument(
            "--out-dir",
            type=Path,
            help=f"Where image tasks save files (default: {settings.AICONFIG_IMAGE_DIR}).",
        )
        parser.add_argument(
            "--stream", action="store_true", help="Text tasks: print tokens as they arrive."
        )
        parser.add_argument(
            "--compare",
            action="store_true",
            help="Run the prompt on every route of the chain at once (no fallback) and "
            "print each answer as it arrives.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the task; on failure print the reason on stderr and exit non-zero."""
        task = options["task"]
        prompt = read_prompt(
            argument=options["prompt"],
            prompt_file=options["prompt_file"],
            stdin=options.get("stdin") or sys.stdin,
        )
        if options["compare"]:
            self._compare(task, prompt, as_json=options["json"])
            return
        before = call_log_health()
        try:
            try:
                if options["stream"] and not options["json"]:
                    run = self._stream(task, prompt)
                else:
                    run = run_task(task=task, prompt=prompt, source=Channel.CLI)
            finally:
                # Calls hand their log rows to a writer thread: wait for them, so a row
                # that could not be written is reported here rather than at exit.
                log_problem = call_log_problem(since=before, health=wait_for_call_log())
        except TaskFailed as exc:
            if log_problem:
                self.stderr.write(f"warning: {log_problem}")
            if options["json"]:
                self.stdout.write(
                    json.dumps(
                        {
                            "task": task,
                            "error": str(exc),
                            "request_id": str(exc.request_id),
                            "attempts": attempts_json(exc.attempts),
                        },
                        indent=2,
                    )
                )
            raise CommandError(str(exc)) from exc
        except AIConfigError as exc:
            raise CommandError(str(exc)) from exc
        if run.log_error or log_problem:
            run = replace(run, log_error=run.log_error or log_problem)
            self.stderr.write(f"warning: {run.log_error}")
        paths = self._save_images(run, options["out_dir"])
        if options["json"]:
            payload = run_json(run, paths)
            self.stdout.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False))
            return
        if not options["stream"]:
            self._print(run, paths)
        self.stderr.write(self._summary(run))

    def _compare(self, task: str, prompt: str, *, as_json: bool) -> None:
        results: list[dict[str, Any]] = []
        try:
            for event in fan_out(task=task, prompt=prompt, source=Channel.CLI):
                route = f"{event.provider}/{event.model}"
                if event.run is not None:
                    results.append({"route": route, **run_json(event.run, [])})
                    if not as_json:
                        self.stdout.write(f"[{route} · {ms(event.run.latency_ms)}]")
                        self._print(event.run, [])
                elif event.error is not None:
                    results.append({"route": route, "error": str(event.error)})
                    if not as_json:
                        tried = event.error.attempts
                        reason = tried[-1].error if tried else str(event.error)
                        self.stdout.write(f"[{route}] failed: {reason}")
        except AIConfigError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(results, indent=2, default=str, ensure_ascii=False))

    def _stream(self, task: str, prompt: str) -> TaskRun:
        stream = stream_text(task=task, prompt=prompt, source=Channel.CLI)
        for delta in stream:
            self.stdout.write(delta, ending="")
            self.stdout.flush()
        self.stdout.write("")
        assert stream.run is not None
        return stream.run

    def _save_images(self, run: TaskRun, out_dir: Path | None) -> list[str]:
        if not run.images:
            return []
        folder = Path(out_dir or settings.AICONFIG_IMAGE_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, image in enumerate(run.images, start=1):
            suffix = EXTENSIONS.get(image.mime_type, ".bin")
            path = folder / f"{run.task}-{run.request_id.hex[:8]}-{index}{suffix}"
            path.write_bytes(image.data)
            paths.append(str(path))
        return paths

    def _print(self, run: TaskRun, paths: list[str]) -> None:
        if paths:
            for path in paths:
                self.stdout.write(path)
        elif run.slides:
            for number, slide in enumerate(run.slides, start=1):
                self.stdout.write(f"Slide {number}")
                self.stdout.write(f"  image:     {slide.image_prompt}")
                self.stdout.write(f"  narration: {slide.narration}")
        else:
            if run.text:
                self.stdout.write(run.text)
            for call in run.tool_calls:
                self.stdout.write(f"tool call: {call.name}({json.dumps(call.arguments)})")
            if run.data is not None and run.text is None:
                self.stdout.write(json.dumps(run.data, indent=2))

    def _summary(self, run: TaskRun) -> str:
        # Formatted as the dashboard's "Try it" formats them (aiconfig.formatting).
        cost = "cost " + usd(run.cost_usd) if run.cost_usd is None else usd(run.cost_usd)
        volume = (
            tokens(run.input_tokens, run.output_tokens) + " tokens"
            if run.input_tokens is not None or run.output_tokens is not None
            else f"{run.image_count} image(s)"
        )
        fallback = " (fallback)" if run.fallback_used else ""
        failed = [a for a in run.attempts if a.outcome != "success"]
        tried = "".join(f"\n  tried {a.provider}/{a.model}: {a.error}" for a in failed)
        return (
            f"[{run.provider}/{run.model}{fallback} · {ms(run.latency_ms)} · {volume} · "
            f"{cost} · request {run.request_id}]{tried}"
        )
