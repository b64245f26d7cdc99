"""Ingest files into a project: walk the paths, read each file, chunk it and store it, one
transaction per document. Yields a `FileEvent` per file so the CLI and the UI can show status
and progress; one bad file never stops the batch."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from engine.errors import Cancelled
from engine.settings import Settings
from engine.store import ProjectStore
from ingest.chunking import ChunkSettings, dump_segments
from ingest.errors import IngestError
from ingest.ocr.ordinals import chunk_around_scans
from ingest.readers import read
from ingest.sources import SourceLimits, iter_sources
from ingest.tokens import cl100k
from ingest.types import Block, Skipped, Source

__all__ = ["FileEvent", "FileStatus", "chunk_settings_from", "ingest_paths", "limits_from"]

log = logging.getLogger(__name__)


class FileStatus(StrEnum):
    """Where one file of an ingest batch is: being read, or how it ended."""

    READING = "reading"
    ADDED = "added"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class FileEvent:
    """The state of one file in an ingest batch. `done`/`total` count files finished so far
    in the batch (for progress bars)."""

    name: str
    status: FileStatus
    reason: str = ""
    done: int = 0
    total: int = 0
    n_chunks: int = 0
    n_pages: int | None = None
    ocr_pages: tuple[int, ...] = ()
    seconds: float = 0.0
    doc_id: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (FileStatus.ADDED, FileStatus.REPLACED, FileStatus.UNCHANGED)

    @property
    def failed(self) -> bool:
        return self.status == FileStatus.FAILED


def limits_from(settings: Settings) -> SourceLimits:
    return SourceLimits(
        max_file_bytes=settings.ingest.max_file_mb * 1024 * 1024,
        max_code_file_bytes=settings.ingest.max_code_file_kb * 1024,
    )


def chunk_settings_from(settings: Settings) -> ChunkSettings:
    max_tokens = settings.ingest.chunk_tokens
    return ChunkSettings(
        max_tokens=max_tokens,
        overlap_tokens=settings.ingest.overlap_tokens,
        min_tokens=max(16, max_tokens * 3 // 10),
    )


def _describe_ocr(pages: Sequence[int], total: int | None) -> str:
    if not pages:
        return ""
    if total and len(pages) == total:
        return f"scanned: its {len(pages)} page(s) are read by OCR"
    shown = ", ".join(map(str, pages[:8])) + ("…" if len(pages) > 8 else "")
    return f"{len(pages)} scanned page(s) (pages {shown}) are read by OCR"


def ingest_source(store: ProjectStore, source: Source, settings: Settings) -> FileEvent:
    """Read, chunk and store one source. Never raises for a bad file: returns a failed event."""
    start = time.perf_counter()
    try:
        document = read(source)
        seen: list[Block] = []
        # Scanned pages reserve chunk ordinals where they stand, for their OCR text later.
        pairs = (
            (chunk, dump_segments(segments))
            for chunk, segments in chunk_around_scans(
                document.blocks,
                doc_id=document.id,
                settings=chunk_settings_from(settings),
                tokenizer=cl100k(),
                seen=seen,
            )
        )
        outcome = store.add_document(document, pairs, seen)
    except IngestError as exc:
        return FileEvent(
            source.name, FileStatus.FAILED, exc.reason, seconds=time.perf_counter() - start
        )
    except MemoryError:
        return FileEvent(source.name, FileStatus.FAILED, "ran out of memory reading this file")
    except Exception as exc:  # a reader bug must not take the batch down
        log.exception("unexpected error ingesting %s", source.name)
        return FileEvent(
            source.name,
            FileStatus.FAILED,
            f"unexpected error ({type(exc).__name__}: {exc}); please report it",
            seconds=time.perf_counter() - start,
        )
    reason = ""
    if outcome.status == "unchanged":
        reason = (
            f"same content as {outcome.duplicate_of}" if outcome.duplicate_of else "already added"
        )
    elif outcome.n_chunks == 0 and not outcome.ocr_pages:
        reason = "no text found in this file"
    ocr = _describe_ocr(outcome.ocr_pages, outcome.n_pages)
    reason = "; ".join(r for r in (reason, ocr) if r)
    return FileEvent(
        source.name,
        FileStatus(outcome.status),
        reason,
        n_chunks=outcome.n_chunks,
        n_pages=outcome.n_pages,
        ocr_pages=outcome.ocr_pages,
        seconds=time.perf_counter() - start,
        doc_id=outcome.doc_id,
    )


def ingest_paths(
    store: ProjectStore,
    paths: Sequence[Path],
    settings: Settings,
    *,
    cancel: threading.Event | None = None,
) -> Iterator[FileEvent]:
    """Ingest every file under `paths`. Yields a `reading` event before each file and a final
    event (added / replaced / unchanged / skipped / failed) after it. Cancelling stops between
    files (raises `Cancelled`); finished files stay stored, so running again resumes."""
    items = list(iter_sources(list(paths), limits=limits_from(settings)))
    total = len(items)
    for done, item in enumerate(items, start=1):
        if cancel is not None and cancel.is_set():
            raise Cancelled(
                f"ingest stopped after {done - 1} of {total} files; run it again to continue"
            )
        if isinstance(item, Skipped):
            yield FileEvent(item.name, FileStatus.SKIPPED, item.reason, done=done, total=total)
        elif isinstance(item, IngestError):
            yield FileEvent(item.name, FileStatus.FAILED, item.reason, done=done, total=total)
        else:
            yield FileEvent(item.name, FileStatus.READING, done=done - 1, total=total)
            event = ingest_source(store, item, settings)
            yield dataclasses.replace(event, done=done, total=total)
