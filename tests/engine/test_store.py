"""The project store against real SQLite files (no mocks)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from engine.errors import SchemaTooNew
from engine.store import ProjectStore, fts_query
from ingest.types import Block, BlockKind, Chunk, DocKind, Document, Locator


def make_doc(
    text_pages: list[str], *, name: str = "a.pdf", key: str = "/x/a.pdf"
) -> tuple[Document, list[Chunk]]:
    doc_id = hashlib.sha256("".join(text_pages).encode()).hexdigest()
    blocks = [
        Block(t, Locator(doc_id=doc_id, page=i), BlockKind.PAGE)
        for i, t in enumerate(text_pages, 1)
    ]
    chunks = [
        Chunk(doc_id, i, b.text, len(b.text.split()), b.locator, 0, 0) for i, b in enumerate(blocks)
    ]
    doc = Document(
        doc_id,
        name,
        DocKind.PDF,
        key,
        iter(blocks),
        size_bytes=100,
        meta={"pages": str(len(blocks))},
    )
    return doc, chunks


def add(store: ProjectStore, doc: Document, chunks: list[Chunk]):
    seen: list[Block] = []

    def stream():
        for b, c in zip(doc.blocks, chunks, strict=True):
            seen.append(b)
            yield c, "[]"

    return store.add_document(doc, stream(), seen)


def test_add_search_and_page_numbers(tmp_path: Path) -> None:
    with ProjectStore(tmp_path / "p.db") as store:
        doc, chunks = make_doc(
            ["Intro page.\n", "The governing law is Delaware.\n", "Signatures.\n"]
        )
        out = add(store, doc, chunks)
        assert out.status == "added" and out.n_chunks == 3 and out.n_pages == 3
        hits = store.search("governing law", limit=5)
        assert hits[0][0].locator.page == 2
        assert hits[0][0].document == "a.pdf"
        assert hits[0][1] > 0
        # stemming: "governed" finds "governing"
        assert store.search("governed")[0][0].locator.page == 2
        assert [b.locator.page for b, _ in store.blocks(doc.id)] == [1, 2, 3]


def test_readd_same_bytes_is_noop_and_changed_file_replaces(tmp_path: Path) -> None:
    with ProjectStore(tmp_path / "p.db") as store:
        doc, chunks = make_doc(["alpha beta\n"])
        assert add(store, doc, chunks).status == "added"
        doc, chunks = make_doc(["alpha beta\n"])
        assert add(store, doc, chunks).status == "unchanged"
        doc2, chunks2 = make_doc(["gamma delta\n"])  # same source_key, new bytes
        out = add(store, doc2, chunks2)
        assert out.status == "replaced" and out.replaced_id == doc.id
        assert [d.id for d in store.documents()] == [doc2.id]
        assert store.search("alpha") == []
        assert store.search("gamma")[0][0].doc_id == doc2.id


def test_failed_document_leaves_nothing(tmp_path: Path) -> None:
    """One transaction per document: an error mid-stream rolls everything back."""
    with ProjectStore(tmp_path / "p.db") as store:
        doc, chunks = make_doc(["one\n", "two\n", "three\n"])
        seen: list[Block] = []

        def broken():
            for i, (b, c) in enumerate(zip(doc.blocks, chunks, strict=True)):
                seen.append(b)
                if i == 2:
                    raise RuntimeError("reader died")
                yield c, "[]"

        with pytest.raises(RuntimeError):
            store.add_document(doc, broken(), seen)
        assert store.documents() == []
        assert store.count_chunks() == 0
        assert store.search("one") == []


def test_fts_query_is_injection_safe() -> None:
    assert fts_query('gov* law" OR NEAR(') == '"gov" OR "law" OR "or" OR "near"'
    assert fts_query("!!!") == ""


def test_wal_mode_and_integrity(tmp_path: Path) -> None:
    with ProjectStore(tmp_path / "p.db") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.integrity_ok()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    ProjectStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('tomes', 'm999_future', 'x')"
    )
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer version of Tomes"):
        ProjectStore(path)


def test_a_write_during_another_connections_write_waits_instead_of_failing(tmp_path: Path) -> None:
    """A transaction that reads, then writes, while another connection commits in between
    must not fail with 'database is locked' (it did with a deferred BEGIN under WAL)."""
    import threading

    path = tmp_path / "p.db"
    first, second = ProjectStore(path), ProjectStore(path)
    reading = threading.Event()
    errors: list[BaseException] = []

    def other_writer() -> None:
        reading.wait(5)
        try:
            second.set_meta("from", "second")
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=other_writer)
    t.start()
    with first.transaction():
        first.db.execute("SELECT count(*) FROM documents").fetchone()
        reading.set()
        t.join(0.5)  # the other writer is now waiting for the write lock (or, before, done)
        first.db.execute("INSERT INTO meta(key, value) VALUES ('from', 'first')")
    t.join(10)
    assert errors == []
    assert second.get_meta("from") == "second"  # it went after the first transaction
    first.close()
    second.close()
