"""The code's shape: no import cycles, short modules, models without rules or queries."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from aiconfig import services
from aiconfig.models import (
    ModelPrice,
    Provider,
    ProviderModel,
    TaskFallback,
    TaskType,
)

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("aiconfig", "adapters")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _module_level_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of ours that `name` imports when it is first imported (not inside functions).

    `from pkg import sub` where `sub` is a module depends on `sub`, not on `pkg`'s names;
    imports under `if TYPE_CHECKING:` never run.
    """
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                visit(node.orelse)
                for handler in node.handlers:
                    visit(handler.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join([*base, *([module] if module else [])])
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    found.add(sub if sub in modules else module)

    visit(ast.parse(path.read_text()).body)
    return {m for m in found if m in modules and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return groups


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: _module_level_imports(name, path, modules) for name, path in modules.items()}
    assert graph["aiconfig.models"], "the walker found none of models' imports"
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_models_import_no_rules() -> None:
    """models → validation → selectors → snapshots → catalog → models was the cycle."""
    ours = set()
    for path in (ROOT / "aiconfig" / "models").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aiconfig"):
                ours.add(node.module)
            assert not (isinstance(node, ast.ImportFrom) and node.level), f"relative in {path}"
    assert {m for m in ours if not m.startswith("aiconfig.models.")} == {"aiconfig.enums"}


@pytest.mark.django_db
def test_model_clean_makes_no_queries() -> None:
    task = TaskType.objects.select_related("assignment").get(name="text")
    assignment = task.assignment
    provider = Provider.objects.get(name="openai")
    objects: list[Any] = [
        task,
        assignment,
        TaskFallback(assignment=assignment, provider="anthropic", model="claude", position=0),
        provider,
        ProviderModel(provider=provider, name="gpt-x"),
        ModelPrice(provider="openai", model="gpt-x"),
    ]
    with CaptureQueriesContext(connection) as queries:
        for obj in objects:
            obj.clean()
    assert len(queries) == 0, [q["sql"] for q in queries]


@pytest.fixture
def admin_client_(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _changelist_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/aiconfig/taskassignment/")
    assert response.status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_admin_task_changelist_queries_do_not_grow_with_tasks(admin_client_: Client) -> None:
    _changelist_queries(admin_client_)  # warm up sessions, content types
    before = _changelist_queries(admin_client_)
    for i in range(8):
        services.add_task(name=f"extra-{i}", output_kind="text", provider="openai", model="")
    after = _changelist_queries(admin_client_)
    response = admin_client_.get("/admin/aiconfig/taskassignment/")
    assert b"extra-7" in response.content
    assert after == before


# A module longer than this does more than one job: split it by job (see admin/, forms/,
# models/, presenters/, selectors/, services/config/, validation/), re-exporting from the package.
MAX_LINES = 425
# The shared SDK plumbing, and the OpenAI adapter's operations (its wire shapes and
# streaming already live in openai_wire.py and openai_stream.py): still over the limit,
# listed so they cannot grow unnoticed.
LONG_MODULES = {
    "adapters/_common.py": 560,
    "adapters/openai_adapter.py": 503,
}


def test_no_module_is_too_long() -> None:
    too_long = {}
    for path in _modules().values():
        name = str(path.relative_to(ROOT))
        count = len(path.read_text().splitlines())
        if count > LONG_MODULES.get(name, MAX_LINES):
            too_long[name] = count
    assert too_long == {}
