"""The house rules on imports and SQL, checked over every module (AST), not hoped for:

- `ingest` imports neither `engine` nor `app`; `engine` never imports `app` or `gradio`;
- `app` reaches the engine only through its public doors: `engine` (the package: Workspace
  and the public types), `engine.types`, `engine.errors` and `engine.settings`;
- SQL (`.execute(`, `.executemany(`, a `.conn` of a database) appears only under engine/store/;
- every module of `engine` and `ingest` imports with gradio, torch and llama_cpp unavailable
  (heavy libraries are imported lazily, where they are used), and `import engine` stays light.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import engine

ROOT = Path(__file__).resolve().parents[1]
APP_DOORS = ("engine", "engine.types", "engine.errors", "engine.settings")
BLOCKED = ("gradio", "torch", "llama_cpp")


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement names, anywhere in the file (inside functions and
    `if TYPE_CHECKING:` blocks too); `from a import b` counts as `a` and `a.b`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno} uses a relative import"
            module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _under(module: str, *roots: str) -> bool:
    return any(module == r or module.startswith(r + ".") for r in roots)


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _modules(package)
        for line, module in _imports(path)
        if _under(module, *forbidden)
    ]


def test_ingest_imports_neither_engine_nor_app() -> None:
    assert _modules("ingest"), "no ingest modules found"
    assert _violations("ingest", ("engine", "app")) == []


def test_engine_never_imports_app_or_gradio() -> None:
    assert _violations("engine", ("app", "gradio")) == []


def _app_engine_imports(path: Path) -> list[tuple[int, str]]:
    """The engine modules `path` imports (a `from engine.x import Y` names `engine.x`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _under(a.name, "engine")]
        elif isinstance(node, ast.ImportFrom) and _under(node.module or "", "engine"):
            found.append((node.lineno, node.module or ""))
    return found


def test_app_uses_only_the_engines_public_doors() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _modules("app")
        for line, module in _app_engine_imports(path)
        if module not in APP_DOORS
    ]
    assert bad == [], f"app may import only {', '.join(APP_DOORS)}: {bad}"


class _SqlCalls(ast.NodeVisitor):
    """`x.execute(...)`, `x.executemany(...)` and any `<...>.conn` attribute."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ("execute", "executemany", "executescript", "conn"):
            self.found.append((node.lineno, node.attr))
        self.generic_visit(node)


def _sql(path: Path) -> list[tuple[int, str]]:
    visitor = _SqlCalls()
    visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return visitor.found


def test_sql_lives_only_in_the_store() -> None:
    store = ROOT / "engine" / "store"
    assert any(_sql(p) for p in store.glob("*.py")), "the check finds nothing in the store?"
    bad = [
        f"{path.relative_to(ROOT)}:{line} .{what}"
        for package in ("engine", "app", "ingest")
        for path in _modules(package)
        if store not in path.parents
        for line, what in _sql(path)
    ]
    assert bad == [], f"SQL outside engine/store/: {bad}"


def test_the_checks_catch_each_form(tmp_path: Path) -> None:
    source = (
        "import gradio as gr\n"
        "from engine.store import ProjectStore\n"
        "from app import handlers\n"
        "def f(store):\n"
        "    import engine.workspace\n"
        "    store.db.execute('SELECT 1')\n"
        "    store.db.conn.executemany('x', [])\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    names = [m for _, m in _imports(path)]
    assert _under(names[0], "gradio") and "app.handlers" in names
    assert [m for _, m in _app_engine_imports(path)] == ["engine.store", "engine.workspace"]
    assert sorted(w for _, w in _sql(path)) == ["conn", "execute", "executemany"]


_BLOCKER = """
import importlib, importlib.abc, pkgutil, sys

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is blocked: import it lazily, where it is used")
        return None

sys.meta_path.insert(0, Blocked())
failed = []
for package in ("engine", "ingest"):
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            failed.append(f"{{info.name}}: {{exc}}")
assert not failed, failed
print("imported")
"""


def test_engine_and_ingest_import_without_gradio_torch_or_llama_cpp() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _BLOCKER.format(blocked=set(BLOCKED))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "imported" in done.stdout


def test_import_engine_is_light() -> None:
    code = (
        "import sys, engine\n"
        "heavy = [m for m in ('numpy', 'sqlite_utils', 'tiktoken', 'pypdfium2', 'gradio', "
        "'torch', 'llama_cpp') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert engine.Settings.__name__ == 'Settings'  # loaded on first use\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_engine_public_names_are_pinned() -> None:
    assert engine.__all__ == [
        "Answer",
        "AnswerStream",
        "BackendUnavailable",
        "Cancelled",
        "ChatLog",
        "Citation",
        "ContextItem",
        "DocumentInfo",
        "FileEvent",
        "FileStatus",
        "GenerationFailed",
        "GridJob",
        "GridPage",
        "GridProgress",
        "IndexProgress",
        "IndexStatus",
        "JobState",
        "Message",
        "ModelCorrupt",
        "ModelError",
        "ModelNotFound",
        "Note",
        "Phase",
        "Preset",
        "Project",
        "ProjectError",
        "ProjectExists",
        "ProjectNotFound",
        "SchemaTooNew",
        "Session",
        "Settings",
        "SettingsError",
        "SourceView",
        "StoreError",
        "SummaryNode",
        "Timings",
        "TomesError",
        "Usage",
        "Workspace",
    ]
    for name in engine.__all__:
        assert getattr(engine, name).__name__ == name
    with pytest.raises(AttributeError):
        engine.NotAName  # noqa: B018
    assert set(engine.__all__) <= set(dir(engine))
