"""Keyword ranking (engine/lexical.py) against a brute-force reference, with real stores."""

from __future__ import annotations

import math
import threading
from collections import Counter
from pathlib import Path

import pytest

from engine.errors import Cancelled
from engine.index.lexical import LexicalIndex, analyze
from engine.qa.retrieve import HybridRetriever, Modes
from engine.store import ProjectStore
from tests.support.corpus import add_pdf_like

PAGES_A = [
    "Either party may terminate this Agreement upon ninety days written notice.",
    "Termination for cause requires a material breach that is not cured in thirty days.",
    "The supplier warrants the goods for twenty-four months after delivery.",
]
PAGES_B = [
    "This Agreement is governed by the laws of the State of New York.",
    "Confidential information must not be disclosed for five years.",
]


def reference(store: ProjectStore, query: str, variant: int) -> list[tuple[str, float]]:
    """BM25 (Lucene IDF, k1=1.5, b=0.75) computed the slow, obvious way."""
    rows = store.db.execute("SELECT id, text FROM chunks ORDER BY rowid").fetchall()
    docs = {cid: analyze(text)[variant] for cid, text in rows}
    n = len(docs)
    avg = sum(len(t) for t in docs.values()) / n
    terms = Counter(analyze(query)[variant])  # a repeated query word counts each time
    out = []
    for cid, toks in docs.items():
        tf = Counter(toks)
        score = 0.0
        for term, times in terms.items():
            if tf[term]:
                df = sum(1 for t in docs.values() if term in t)
                idf = math.log1p((n - df + 0.5) / (df + 0.5))
                bm25 = idf * tf[term] / (tf[term] + 1.5 * (1 - 0.75 + 0.75 * len(toks) / avg))
                score += times * bm25
        if score > 0:
            out.append((cid, score))
    return sorted(out, key=lambda x: -x[1])


@pytest.fixture
def store(tmp_path: Path) -> ProjectStore:
    s = ProjectStore(tmp_path / "project.db")
    add_pdf_like(s, "a.pdf", PAGES_A, max_tokens=24)
    add_pdf_like(s, "b.pdf", PAGES_B, max_tokens=24)
    return s


def test_scores_match_the_reference(store: ProjectStore, tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path)
    list(index.build(store))
    for query in (
        "terminate the agreement",
        "governing laws of New York",
        "warranty months",
        "law: which law governs? the governing law",
    ):
        got = index.search(query, k=20)
        assert got is not None
        for variant, name in ((0, "stem"), (1, "exact")):
            want = reference(store, query, variant)
            assert [c for c, _ in got[name]] == [c for c, _ in want]
            for (_, a), (_, b) in zip(got[name], want, strict=True):
                assert a == pytest.approx(b, rel=1e-5)


def test_stemming_and_exact_variants(store: ProjectStore, tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path)
    list(index.build(store))
    got = index.search("termination", k=10)
    assert got is not None
    stem_text = " ".join(store.chunk(c).text for c, _ in got["stem"])
    exact_text = " ".join(store.chunk(c).text for c, _ in got["exact"])
    # "terminate" and "termination" share a stem; the exact variant only has the word itself
    assert "may terminate" in stem_text and "Termination for cause" in stem_text
    assert all("Termination" in store.chunk(c).text for c, _ in got["exact"])
    assert "Termination for cause" in exact_text


def test_scope_to_documents(store: ProjectStore, tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path)
    list(index.build(store))
    b = next(d.id for d in store.documents() if d.name == "b.pdf")
    got = index.search("agreement", k=10, doc_ids=[b])
    assert got is not None and got["stem"]
    assert all(store.chunk(c).doc_id == b for c, _ in got["stem"])


def test_stale_after_ingest_and_rebuilt_atomically(store: ProjectStore, tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path)
    assert index.search("agreement", k=5) is None  # nothing built yet
    list(index.build(store))
    assert index.is_current(store)
    add_pdf_like(store, "c.pdf", ["The escrow agent is Brightwater Trust."], max_tokens=24)
    assert not index.is_current(store)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        list(index.build(store, cancel=cancel))
    got = index.search("agreement", k=5)  # the previous index still answers
    assert got is not None and got["stem"]
    list(index.build(store))
    assert index.is_current(store)
    got = index.search("escrow agent", k=5)
    assert got is not None and "Brightwater" in store.chunk(got["stem"][0][0]).text


def test_retriever_uses_fts5_until_the_index_is_built(store: ProjectStore, tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path)
    retriever = HybridRetriever(store, lexical=index, modes=Modes(dense=False, tree=False))

    def count(text: str) -> int:
        return len(text.split())

    before = retriever("notice to terminate", budget=200, count=count, exclude=frozenset())
    assert before.items and "terminate" in before.items[0].text
    list(index.build(store))
    after = retriever("notice to terminate", budget=200, count=count, exclude=frozenset())
    assert "terminate" in after.items[0].text
