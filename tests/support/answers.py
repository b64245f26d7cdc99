"""A saved answer with one citation and one context item, for chat and upgrade tests; and an
`AskScope` over one retriever, for answer tests that build their own."""

from __future__ import annotations

from engine.qa.answer import AskScope
from engine.qa.retrieve import Retriever
from engine.store import ProjectStore
from engine.types import Answer, Citation, ContextItem, Timings, Usage
from ingest.types import Locator

__all__ = ["sample_answer", "scope_over"]


def scope_over(retriever: Retriever, store: ProjectStore) -> AskScope:
    """The whole project of `store`, always searched with `retriever`."""
    names = {d.id: d.name for d in store.documents()}
    return AskScope(retriever_for=lambda ids: retriever, names=names)


def sample_answer() -> Answer:
    loc = Locator(doc_id="d1", page=4, page_end=5)
    return Answer(
        question="What is the term?",
        text='The term is "five years" [c1].',
        citations=(Citation("c1", "d1:3", "lease.pdf", loc, "five years", True, "d1"),),
        context=(ContextItem("c1", "d1:3", "lease.pdf", loc, "…five years…", 12, 0, 1.5, "d1"),),
        usage=Usage(100, 12),
        timings=Timings(0.01, 0.4, 1.2),
        raw_text='The term is "five years" [c1].',
        new_keys=("c1",),
    )
