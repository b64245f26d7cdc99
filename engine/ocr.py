"""Read the scanned pages of a project: every page that needs OCR and has not been read yet,
page by page, each stored the moment it is read (`engine.store.ocr.save_page`), so that

- the document becomes searchable as its pages complete (FTS5 indexes each page's chunks in
  the same transaction; the keyword index and embeddings catch up in the background job);
- a run that is cancelled or killed resumes at the first unread page;
- a mixed PDF only has its scanned pages read: its text-layer pages, blocks and chunks are
  never touched.

Each read page is chunked on its own into the ordinals it reserved at ingest
(`ingest.ocr.ordinals`), so its chunks sort between those of the pages around it. A page
whose OCR is too doubtful to index (UNREADABLE) or that holds no text (BLANK) is recorded
without chunks; a damaged page is recorded as failed with the reason.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import Cancelled
from engine.settings import Settings
from engine.store import ocr as ocr_store
from engine.store.db import ProjectStore
from ingest.chunking import chunk_blocks_with_segments, dump_segments
from ingest.errors import IngestError
from ingest.ocr import OcrOptions, make_engine, read_pages
from ingest.ocr.engine import OcrEngine
from ingest.ocr.ordinals import OCR_ORDINALS
from ingest.ocr.pool import default_workers
from ingest.ocr.sources import page_images
from ingest.ocr.types import OcrPage
from ingest.sources import iter_sources
from ingest.tokens import cl100k
from ingest.types import Block, BlockKind, Chunk, DocKind, Locator, Source

__all__ = ["OcrProgress", "ocr_options", "read_scanned_pages"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OcrProgress:
    """One read page: `done` of `total` pages in this run, and what happened to it."""

    done: int
    total: int
    document: str = ""
    page: int = 0
    status: str = ""
    confidence: float = 0.0
    error: str = ""


def _probe_image() -> Any:
    """A tiny image with one bar, read once so that the engine loads before any page."""
    import numpy as np

    probe = np.full((48, 160), 255, dtype=np.uint8)
    probe[20:28, 20:140] = 0
    return probe


def ocr_options(settings: Settings) -> OcrOptions:
    """The page-reading options from the settings."""
    low = settings.ocr.low_confidence
    return OcrOptions(
        low_confidence=low,
        unreadable_confidence=min(settings.ocr.unreadable_confidence, low),
        retry_below=max(low, 0.85),
    )


def _source(path: str, name: str, size: int) -> Source | str:
    """The original file as a Source, or why it cannot be read again."""
    file = Path(path)
    if not file.is_file():
        return "the original file is no longer where it was added"
    if file.stat().st_size != size:
        return "the original file has changed since it was added"
    (item,) = list(iter_sources([file]))
    if not isinstance(item, Source):
        return getattr(item, "reason", "the original file cannot be read")
    return dataclasses.replace(item, name=name)


def _page_chunks(
    doc_id: str, page: int, result: OcrPage, first: int, settings: Settings
) -> list[tuple[Chunk, str]]:
    from engine.intake import chunk_settings_from

    if not result.indexed:
        return []
    block = Block(result.text, Locator(doc_id=doc_id, page=page), BlockKind.PAGE)
    out = []
    for chunk, segments in chunk_blocks_with_segments(
        [block], doc_id=doc_id, settings=chunk_settings_from(settings), tokenizer=cl100k()
    ):
        if chunk.ordinal >= OCR_ORDINALS:  # never: a page cannot fill its reservation
            log.warning("page %d of %s has more text than its chunk ordinals", page, doc_id)
            break
        moved = dataclasses.replace(chunk, ordinal=first + chunk.ordinal)
        out.append((moved, dump_segments(segments)))
    return out


def read_scanned_pages(
    store: ProjectStore,
    settings: Settings,
    *,
    cancel: threading.Event | None = None,
    engine: OcrEngine | None = None,
) -> Iterator[OcrProgress]:
    """Read every unread scanned page of the project (see the module docstring), yielding
    progress after each page. Raises `Cancelled` when `cancel` is set (read pages stay) and
    `OcrUnavailable` when no OCR engine can load."""
    work = ocr_store.pending_pages(store)
    total = sum(len(pages) for _, pages in work)
    if not total:
        return
    options = ocr_options(settings)
    workers = 1 if engine is not None else settings.ocr.workers or default_workers()
    if settings.ocr.engine == "rapidocr":
        workers = 1  # onnxruntime spreads one page over every core
    # The first engine is made now, so that a missing runtime fails before any page.
    first_engine = engine or make_engine(settings.ocr.engine)
    first_engine.recognize(_probe_image())
    spare = [first_engine]

    def make() -> OcrEngine:
        if spare:
            return spare.pop()
        return engine if engine is not None else make_engine(settings.ocr.engine)

    engine_name = first_engine.name
    done = 0
    yield OcrProgress(0, total)
    for doc_id, pages in work:
        doc = store.document(doc_id)
        if not doc.path:  # a member of a .zip: there is no file to render pages from
            reason = "scanned pages inside an archive are not read: add the PDF itself"
            ocr_store.save_failure(store, doc_id, pages, reason)
            done += len(pages)
            yield OcrProgress(done, total, doc.name, pages[0], "failed", error=reason)
            continue
        found = _source(doc.path, doc.name, doc.size_bytes)
        if isinstance(found, str):  # moved or changed: left to read once it is back
            done += len(pages)
            yield OcrProgress(done, total, doc.name, pages[0], "skipped", error=found)
            continue
        kind = DocKind(doc.kind)
        images = page_images(found, kind, pages, dpi=settings.ocr.dpi)
        try:
            for page, result in read_pages(
                images, make, workers=workers, options=options, cancel=cancel
            ):
                first = ocr_store.first_ordinal(store, doc_id, page)
                chunks = _page_chunks(doc_id, page, result, first, settings)
                ocr_store.save_page(store, doc_id, page, result, engine_name, chunks)
                done += 1
                yield OcrProgress(
                    done, total, doc.name, page, result.status.value, result.confidence
                )
        except IngestError as exc:
            read = {page for (_, page) in ocr_store.page_statuses(store, [doc_id])}
            rest = [p for p in pages if p not in read]
            ocr_store.save_failure(store, doc_id, rest, exc.reason)
            done += len(rest)
            first_failed = rest[0] if rest else 0
            yield OcrProgress(done, total, doc.name, first_failed, "failed", error=exc.reason)
        finally:
            images.close()
        if cancel is not None and cancel.is_set():
            raise Cancelled(
                f"OCR stopped after {done} of {total} scanned pages; it resumes where it stopped"
            )
