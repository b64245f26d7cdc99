"""A saved answer with one citation and one context item, for chat and upgrade tests."""

from __future__ import annotations

from engine.types import Answer, Citation, ContextItem, Timings, Usage
from ingest.types import Locator

__all__ = ["sample_answer"]


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
