"""Build small in-store corpora for engine tests without going through file readers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from engine.store import ProjectStore
from ingest.chunking import ChunkSettings, chunk_blocks_with_segments, dump_segments
from ingest.types import Block, BlockKind, DocKind, Document, Locator


def add_pdf_like(
    store: ProjectStore, name: str, pages: Sequence[str], *, max_tokens: int = 120
) -> str:
    """Store `pages` as a PDF-like document (one block per page); returns the doc id."""
    texts = [p if p.endswith("\n") else p + "\n" for p in pages]
    doc_id = hashlib.sha256(("\x00".join(texts) + name).encode()).hexdigest()
    blocks = [
        Block(t, Locator(doc_id=doc_id, page=i), BlockKind.PAGE) for i, t in enumerate(texts, 1)
    ]
    doc = Document(
        doc_id,
        name,
        DocKind.PDF,
        f"/test/{name}",
        iter(blocks),
        size_bytes=len("".join(texts)),
        meta={"pages": str(len(texts))},
    )
    seen: list[Block] = []

    def tee():
        for b in doc.blocks:
            seen.append(b)
            yield b

    settings = ChunkSettings(max_tokens=max_tokens, overlap_tokens=10, min_tokens=40)
    pairs = (
        (c, dump_segments(s))
        for c, s in chunk_blocks_with_segments(tee(), doc_id=doc_id, settings=settings)
    )
    store.add_document(doc, pairs, seen)
    return doc_id


def open_store(tmp_path: Path) -> ProjectStore:
    return ProjectStore(tmp_path / "project.db")


TOPICS = [
    "The supplier shall deliver the goods within thirty days of the purchase order.",
    "Payment is due within sixty days of the invoice date, by bank transfer in euros.",
    "Either party may terminate this agreement with ninety days written notice.",
    "The warranty period for all equipment is twenty-four months from delivery.",
    "Confidential information must not be disclosed to any third party for five years.",
    "This agreement is governed by the laws of the State of New York.",
    "The licensee may not sublicense the software without prior written consent.",
    "Liability of either party is limited to the fees paid in the preceding twelve months.",
]


def pages_about(seed: int, n_pages: int) -> list[str]:
    """Deterministic filler pages, each with a few distinct topic sentences."""
    pages = []
    for p in range(n_pages):
        lines = []
        for k in range(6):
            t = TOPICS[(seed + p * 3 + k) % len(TOPICS)]
            lines.append(f"Section {p + 1}.{k + 1}. {t} This clause applies to document {seed}.")
        pages.append("\n".join(lines))
    return pages
