"""HybridRetriever's citation helpers against a real store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.qa.packing import chunk_item
from engine.qa.retrieve import HybridRetriever, Modes
from tests.support.corpus import add_pdf_like, open_store


def test_locate_narrows_to_the_page_and_falls_back_only_for_a_gone_chunk(
    tmp_path: Path,
) -> None:
    pages = [
        "The tenant pays the rent on the first day of each month.",
        "The deposit is three months of rent, kept in a separate account.",
    ]
    with open_store(tmp_path) as store:
        doc_id = add_pdf_like(store, "lease.pdf", pages, max_tokens=400)
        (stored,) = store.doc_chunks(doc_id)
        item = chunk_item(stored, 1.0)
        retriever = HybridRetriever(store, modes=Modes(dense=False))
        at = item.text.index("The deposit")
        assert stored.locator.page_end == 2  # the chunk spans both pages …
        assert retriever.locate(item, at, at + 11).page == 2  # … the quote is on page 2

        store.remove_document(doc_id)  # e.g. deleted while the answer was written
        assert retriever.locate(item, at, at + 11) == item.locator  # its span, not an error

        store.close()  # any other failure is a bug and must not become a coarser citation
        with pytest.raises(sqlite3.ProgrammingError):
            retriever.locate(item, at, at + 11)
