"""Passages and evidence windows for answer-step tests, without a store: a passage is a
chunk's text with its locator; windows are what the evidence step chooses from passages for
a question (word counts stand in for tokens)."""

from __future__ import annotations

from collections.abc import Sequence

from engine.qa.evidence import Evidence, rank_sentences, select_evidence
from engine.types import ContextItem
from ingest.types import Locator


def passage(chunk_id: str, text: str, *, document: str, page: int | None = None) -> ContextItem:
    """A level-0 passage of the document whose id is `chunk_id`'s prefix."""
    doc = chunk_id.rsplit(":", 1)[0]
    return ContextItem(
        key="", chunk_id=chunk_id, document=document, locator=Locator(doc_id=doc, page=page),
        text=text, n_tokens=len(text.split()), doc_id=doc,
    )  # fmt: skip


def windows(question: str, passages: Sequence[ContextItem], budget: int = 300) -> list[Evidence]:
    """The evidence windows for `question` among `passages` (no idf, no embedder)."""
    ranked = rank_sentences(question, passages)
    return select_evidence(ranked, budget=budget, count=lambda t: len(t.split()))
