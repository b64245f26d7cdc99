"""The torch backend (transformers) answers through the same prompts and citation checks,
loading the same embedded GGUF (dequantized by transformers: ~35-60 s and ~4 GB on a CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_model_e2e import PAGES, QUESTION
from tests.support.fixtures import make_pdf

pytestmark = pytest.mark.model


def test_torch_backend_answers_with_a_citation(tmp_path: Path, real_model_env: Path) -> None:
    from engine.settings import Settings
    from engine.workspace import Workspace

    pdf = make_pdf(tmp_path / "escrow.pdf", PAGES)
    ws = Workspace(
        Settings.load(
            overrides={
                "model.backend": "torch",
                "model.path": str(real_model_env),
                "model.max_answer_tokens": 64,
                "retrieval.embeddings": False,
            }
        )
    )
    try:
        project = ws.project("Escrow", create=True)
        list(ws.ingest(project, [pdf], background_index=False))
        answer = ws.ask(project, QUESTION).result()
    finally:
        ws.close()
    assert answer.model.startswith("torch:")
    assert "brightwater" in answer.text.lower()
    assert 2 in {c.locator.page for c in answer.citations if c.verified}
