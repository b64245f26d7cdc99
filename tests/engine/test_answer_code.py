"""Answers over a codebase cite `file:line`: evidence in source files is cut into line groups,
and a citation's lines are the lines that hold the quoted code (issue 11)."""

from __future__ import annotations

from pathlib import Path

from engine.settings import Settings
from engine.workspace import Workspace
from tests.support.fixtures import make_repo


def test_a_code_answer_cites_the_lines_it_rests_on(tmp_path: Path) -> None:
    settings = Settings.load(
        env={"TOMES_HOME": str(tmp_path / "home")},
        overrides={"model.backend": "fake", "retrieval.embeddings": False},
    )
    workspace = Workspace(settings)
    try:
        project = workspace.project("Repo", create=True)
        list(workspace.ingest(project, [make_repo(tmp_path / "repo")], background_index=False))
        list(workspace.build_keywords(project))
        answer = workspace.ask(project, "What does beta return?").result()
        assert answer.state == "found", answer.text
        cite = answer.citations[0]
        assert cite.document == "repo/src/app.py"
        assert cite.locator.line_start is not None and cite.locator.line_end is not None
        lines = (tmp_path / "repo/src/app.py").read_text().splitlines()
        cited = "\n".join(lines[cite.locator.line_start - 1 : cite.locator.line_end])
        assert "return y * 2" in cited and "def beta" in cited
        # the quote is the code itself, line for line
        assert cite.quote.strip() in (tmp_path / "repo/src/app.py").read_text()
    finally:
        workspace.close()
