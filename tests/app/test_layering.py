"""The app's layers stay apart: `app.views` only renders values, so it imports nothing that
reaches the workspace, the store, Gradio or the handlers (engine value types for its type
hints are fine)."""

from __future__ import annotations

import ast
from pathlib import Path

import app.views

VIEWS = Path(__file__).resolve().parents[2] / "app" / "views.py"
FORBIDDEN = ("engine.workspace", "engine.store", "gradio", "app.handlers")


def _imported_modules(tree: ast.Module) -> list[tuple[int, str]]:
    """Every module an import statement names, anywhere in the file (inside functions and
    `if TYPE_CHECKING:` blocks too); `from app import handlers` counts as `app.handlers`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"views.py:{node.lineno} uses a relative import"
            module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _is_forbidden(module: str) -> bool:
    return any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN)


def test_views_imports_no_workspace_store_gradio_or_handlers() -> None:
    tree = ast.parse(VIEWS.read_text(encoding="utf-8"), filename=str(VIEWS))
    modules = _imported_modules(tree)
    assert modules, "the import walk found nothing: is this still app/views.py?"
    bad = [f"views.py:{line} imports {module}" for line, module in modules if _is_forbidden(module)]
    assert not bad, bad


def test_the_check_catches_each_forbidden_form() -> None:
    """The walk sees plain, dotted, aliased, from-package and function-local imports."""
    source = (
        "import gradio as gr\n"
        "from engine.store import ProjectStore\n"
        "from app import handlers\n"
        "def f():\n"
        "    import engine.workspace.x\n"
    )
    flagged = {
        line for line, module in _imported_modules(ast.parse(source)) if _is_forbidden(module)
    }
    assert flagged == {1, 2, 3, 5}
    assert not _is_forbidden("engine.types") and not _is_forbidden("engine.viewer")


def test_views_public_names() -> None:
    assert sorted(app.views.__all__) == sorted(
        [
            "DOC_HEADERS",
            "UNVERIFIED_TIP",
            "VIEWER_EMPTY",
            "answer_markdown",
            "cell_display",
            "cell_markdown",
            "chips_html",
            "documents_rows",
            "event_detail",
            "file_table_html",
            "grid_progress_line",
            "grid_table_html",
            "node_label",
            "node_markdown",
            "ocr_note",
            "png",
            "progress_line",
            "reading_line",
            "sentence",
            "short",
            "sources_of",
            "source_html",
            "summary_line",
            "viewer_head",
        ]
    )
    assert all(hasattr(app.views, name) for name in app.views.__all__)
