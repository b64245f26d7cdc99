"""Scanned pages and what OCR read on them (table `ocr_pages`, migration m007_ocr).

A page needs OCR when its block has `needs_ocr` (a PDF page without a text layer, an image
frame) and it has no `ocr_pages` row yet. `save_page` writes one read page in one
transaction: its row (status, confidence, words), its text into the page's block (the viewer
shows it), and its chunks at the ordinals the page reserved at ingest (see
`ingest.ocr.ordinals`), so a page is either wholly there or not at all and a killed run
resumes at the first page without a row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.store.codec import CHUNK_INSERT_COLS, chunk_row
from engine.types import OcrSummary
from ingest.ocr.ordinals import first_ocr_ordinal
from ingest.ocr.types import OcrPage, OcrWord
from ingest.types import Chunk

if TYPE_CHECKING:
    from engine.store.db import ProjectStore

__all__ = [
    "OcrPageRow",
    "count_pending",
    "first_ordinal",
    "ocr_summaries",
    "page_row",
    "page_statuses",
    "pending_pages",
    "save_failure",
    "save_page",
]

_PENDING = (
    "FROM blocks b JOIN documents d ON d.id = b.doc_id WHERE b.needs_ocr = 1 "
    "AND NOT EXISTS (SELECT 1 FROM ocr_pages o WHERE o.doc_id = b.doc_id AND o.page = b.page)"
)


@dataclass(frozen=True, slots=True)
class OcrPageRow:
    """One read page as stored: words are (start, end, box, confidence) into the page text."""

    doc_id: str
    page: int
    status: str
    confidence: float
    engine: str
    rotation: int
    words: tuple[OcrWord, ...]
    error: str = ""


def pending_pages(store: ProjectStore) -> list[tuple[str, list[int]]]:
    """(doc_id, pages still to read) for every document with some, oldest document first."""
    out: dict[str, list[int]] = {}
    for doc_id, page in store.db.execute(
        f"SELECT b.doc_id, b.page {_PENDING} ORDER BY d.added_at, d.name, b.doc_id, b.page"
    ):
        out.setdefault(doc_id, []).append(page)
    return list(out.items())


def count_pending(store: ProjectStore) -> int:
    return int(store.db.execute(f"SELECT count(*) {_PENDING}").fetchone()[0])


def first_ordinal(store: ProjectStore, doc_id: str, page: int) -> int:
    """The first chunk ordinal reserved for scanned page `page` (see ingest.ocr.ordinals)."""
    scanned = int(
        store.db.execute(
            "SELECT count(*) FROM blocks WHERE doc_id = ? AND needs_ocr = 1 AND page < ?",
            [doc_id, page],
        ).fetchone()[0]
    )
    text_chunks = int(
        store.db.execute(
            "SELECT count(*) FROM chunks WHERE doc_id = ? AND page < ? AND page NOT IN "
            "(SELECT page FROM blocks WHERE doc_id = ? AND needs_ocr = 1)",
            [doc_id, page, doc_id],
        ).fetchone()[0]
    )
    return first_ocr_ordinal(scanned, text_chunks)


def _words_json(words: Sequence[OcrWord]) -> str:
    return json.dumps(
        [[w.start, w.end, *w.box, round(w.confidence, 3)] for w in words], separators=(",", ":")
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def save_page(
    store: ProjectStore,
    doc_id: str,
    page: int,
    result: OcrPage,
    engine: str,
    chunks: Iterable[tuple[Chunk, str]] = (),
) -> bool:
    """Store one read page (see the module docstring); False if it was already stored."""
    rows = [chunk_row(doc_id, chunk, segments) for chunk, segments in chunks]
    n_tokens = sum(int(r[4]) for r in rows)
    with store.transaction():
        done = store.db.execute(
            "SELECT 1 FROM ocr_pages WHERE doc_id = ? AND page = ?", [doc_id, page]
        ).fetchone()
        if done:
            return False
        if rows:
            marks = ",".join("?" * len(rows[0]))
            store.db.conn.executemany(
                f"INSERT INTO chunks ({CHUNK_INSERT_COLS}) VALUES ({marks})", rows
            )
        if result.indexed:
            store.db.execute(
                "UPDATE blocks SET text = ? WHERE doc_id = ? AND page = ? AND needs_ocr = 1",
                [result.text, doc_id, page],
            )
        store.db.execute(
            "INSERT INTO ocr_pages (doc_id, page, status, confidence, engine, rotation, skew, "
            "width, height, words, n_chunks, seconds, done_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                doc_id,
                page,
                result.status.value,
                result.confidence,
                engine,
                result.rotation,
                result.skew,
                result.width,
                result.height,
                _words_json(result.words) if result.indexed else "[]",
                len(rows),
                round(result.seconds, 3),
                _now(),
            ],
        )
        if rows:
            store.db.execute(
                "UPDATE documents SET n_chunks = n_chunks + ?, n_tokens = n_tokens + ? "
                "WHERE id = ?",
                [len(rows), n_tokens, doc_id],
            )
    return True


def save_failure(store: ProjectStore, doc_id: str, pages: Sequence[int], reason: str) -> None:
    """Record pages that cannot be read (a damaged page): not retried, shown with `reason`."""
    with store.transaction():
        store.db.conn.executemany(
            "INSERT OR IGNORE INTO ocr_pages (doc_id, page, status, confidence, engine, error, "
            "done_at) VALUES (?, ?, 'failed', 0, '', ?, ?)",
            [(doc_id, p, reason, _now()) for p in pages],
        )


def _row(values: Sequence[Any]) -> OcrPageRow:
    doc_id, page, status, confidence, engine, rotation, words, error = values
    return OcrPageRow(
        doc_id,
        page,
        status,
        confidence,
        engine,
        rotation,
        tuple(
            OcrWord(int(w[0]), int(w[1]), (w[2], w[3], w[4], w[5]), float(w[6]))
            for w in json.loads(words)
        ),
        error,
    )


def page_row(store: ProjectStore, doc_id: str, page: int) -> OcrPageRow | None:
    """What OCR stored for one page, if it was read."""
    found = store.db.execute(
        "SELECT doc_id, page, status, confidence, engine, rotation, words, error "
        "FROM ocr_pages WHERE doc_id = ? AND page = ?",
        [doc_id, page],
    ).fetchone()
    return _row(found) if found else None


def page_statuses(store: ProjectStore, doc_ids: Iterable[str]) -> dict[tuple[str, int], str]:
    """(doc_id, page) -> status of every read page of the given documents."""
    ids = list(dict.fromkeys(doc_ids))
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {
        (d, p): s
        for d, p, s in store.db.execute(
            f"SELECT doc_id, page, status FROM ocr_pages WHERE doc_id IN ({marks})", ids
        )
    }


def ocr_summaries(store: ProjectStore) -> dict[str, OcrSummary]:
    """Every document with scanned pages -> how far OCR is and which pages are doubtful."""
    pending: dict[str, int] = dict(
        store.db.execute(f"SELECT b.doc_id, count(*) {_PENDING} GROUP BY b.doc_id").fetchall()
    )
    by_doc: dict[str, dict[str, list[int]]] = {}
    for doc_id, page, status in store.db.execute(
        "SELECT doc_id, page, status FROM ocr_pages ORDER BY doc_id, page"
    ):
        by_doc.setdefault(doc_id, {}).setdefault(status, []).append(page)
    out = {}
    for doc_id in set(pending) | set(by_doc):
        states = by_doc.get(doc_id, {})
        out[doc_id] = OcrSummary(
            pending=pending.get(doc_id, 0),
            read=sum(len(v) for v in states.values()),
            low_confidence=tuple(states.get("low_confidence", ())),
            unreadable=tuple(states.get("unreadable", ())),
            failed=tuple(states.get("failed", ())),
        )
    return out
