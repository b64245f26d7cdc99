"""Ingest files into a project: walk the paths, prepare each file (read, chunk, tokenize) and
write it, many small documents per short transaction. Yields a `FileEvent` per file so the CLI
and the UI can show status and progress; one bad file never stops the batch.

The pipeline (issues 12 and 14):

    walk (iter_sources) -> skip unchanged by fingerprint -> prepare (ingest.prepare; in a pool
    of worker processes for big batches) -> write (engine.store.writes; this process only)

* Preparing never happens inside a write transaction, so the write lock is held only to copy
  rows: many small documents per transaction, a big document in several (see
  `engine.store.writes`). Another process saving an answer waits a fraction of a second.
* A batch with at least `PARALLEL_MIN_FILES` files or `PARALLEL_MIN_BYTES` to read is
  prepared by `settings.ingest.workers` processes (0 = one per core); below that, starting
  them (about a second of CPU each: each imports Tomes and loads the tokenizer) would cost
  more than it saves. The workers start during the walk, once it has found that much.
  Results are written in the order of the walk, so documents, chunks, ids and locators (and
  chunk rowids, unless a big replaced version is drained meanwhile) are the same as when
  everything runs here.
* A source whose fingerprint (size and mtime; zip member: size and CRC-32) is what the
  project recorded is `unchanged` without being read.
* Events come in walk order. A final event (added, replaced, unchanged, skipped, failed) is
  yielded once its transaction has committed; `reading` comes before a file that is read in
  this process or waited for, never after that file's final event.
* Cancelling stops between files (raises `Cancelled`) after committing what is prepared;
  finished files stay stored, so running again resumes.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Final

from engine.errors import Cancelled, ProjectGone
from engine.settings import Settings
from engine.store import AddOutcome, ProjectStore
from engine.store.writes import (
    KnownSource,
    RowsDocument,
    WriteBusy,
    as_rows,
    clean_interrupted,
    fingerprints,
    is_stored,
    write_batch,
    write_large,
)
from ingest.chunking import ChunkSettings
from ingest.errors import IngestError
from ingest.prepare import AlreadyStored, PreparedDocument, PrepareFailed, prepare
from ingest.sources import SourceItem, SourceLimits, iter_sources
from ingest.tokens import cl100k
from ingest.types import Skipped, Source

#: What preparing one source gives the writer: a PreparedDocument from this process, its rows
#: from a worker, or the outcome that needs no rows.
Prepared = PreparedDocument | RowsDocument | AlreadyStored | PrepareFailed

__all__ = [
    "PARALLEL_MIN_BYTES",
    "PARALLEL_MIN_FILES",
    "FileEvent",
    "FileStatus",
    "chunk_settings_from",
    "ingest_paths",
    "limits_from",
]

log = logging.getLogger(__name__)

#: A batch is read by worker processes from this many files, or this many bytes, on: starting
#: two workers costs ~2 s of CPU (measured: a 1,000-file zip took 1.8 s of CPU serially and
#: 3.8 s with two workers), so a pool only pays off from several seconds of reading.
PARALLEL_MIN_FILES: Final = 2048
PARALLEL_MIN_BYTES: Final = 16 * 1024 * 1024
# A task sent to a worker: at most this many files, or this many bytes (a bigger file alone).
_TASK_FILES: Final = 32
_TASK_BYTES: Final = 1024 * 1024
# A write transaction ends after this much text, this many documents, or this long (s).
_BATCH_CHARS: Final = 4 * 1024 * 1024
_BATCH_DOCS: Final = 512
_BATCH_SECONDS: Final = 0.5


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


def _done_event(name: str, outcome: AddOutcome, seconds: float) -> FileEvent:
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
        name,
        FileStatus(outcome.status),
        reason,
        n_chunks=outcome.n_chunks,
        n_pages=outcome.n_pages,
        ocr_pages=outcome.ocr_pages,
        seconds=seconds,
        doc_id=outcome.doc_id,
    )


def _failed_event(failure: PrepareFailed) -> FileEvent:
    if failure.unexpected:
        log.error("unexpected error ingesting %s\n%s", failure.name, failure.detail)
    return FileEvent(failure.name, FileStatus.FAILED, failure.reason, seconds=failure.seconds)


def _busy_event(name: str) -> FileEvent:
    return FileEvent(
        name,
        FileStatus.FAILED,
        "another Tomes process is adding the same file right now; add it again when it is done",
    )


def _prepare_run(
    sources: Sequence[Source],
    *,
    chunking: ChunkSettings,
    db_path: str,
    spool_dir: str,
    inline_chars: int,
    max_pages: int,
    stored: Callable[[str], bool] | None = None,
    rows: bool = False,
) -> list[Prepared]:
    """Prepare a run of sources, in order (in a pool worker, or in this process). Whether a
    hash is stored is asked through `stored`, by default a worker's own read-only
    connection to `db_path`. `rows`: hand in-memory documents over as the store's rows
    (what a worker does: the writer then only inserts, and plain tuples pickle cheaply)."""
    if stored is None:
        stored = partial(is_stored, db_path)
    folder = Path(spool_dir)
    out: list[Prepared] = []
    for source in sources:
        done = prepare(
            source,
            chunking=chunking,
            is_stored=stored,
            spool_dir=folder,
            inline_chars=inline_chars,
            max_pages=max_pages,
        )
        if rows and isinstance(done, PreparedDocument) and done.spool is None:
            out.append(as_rows(done))
        else:
            out.append(done)
    return out


class _Serial:
    """Prepares each source here, when it is asked for."""

    def __init__(self, sources: dict[int, Source], prepare_run: partial[list[Prepared]]) -> None:
        self._sources = sources
        self._run = prepare_run

    def ready(self, index: int) -> bool:
        return True  # nothing to wait for: preparing is the work

    def result(self, index: int) -> Prepared:
        return self._run([self._sources.pop(index)])[0]

    def close(self) -> None:
        pass


def _warm_up() -> None:
    """A worker's first task: load the tokenizer while the ingesting process still walks."""
    cl100k()


def _start_workers(workers: int) -> ProcessPoolExecutor | None:
    """`workers` processes, started now (each imports Tomes and loads the tokenizer, about a
    second, so this overlaps the rest of the walk); None when they cannot start."""
    # spawn, not fork: the ingesting process may be a server with threads running.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        for _ in range(workers):
            pool.submit(_warm_up)
    except BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        return None
    return pool


class _Pool:
    """Prepares sources in worker processes, a few tasks ahead of the writer, in order.

    Results are asked for in increasing index order; a task stays referenced until all its
    results are taken, and at most `workers * 3` such tasks exist (memory stays bounded).
    """

    def __init__(
        self,
        pool: ProcessPoolExecutor,
        sources: dict[int, Source],
        prepare_run: partial[list[Prepared]],
        workers: int,
        *,
        here: partial[list[Prepared]],
    ) -> None:
        self._here = here  # for what has to be read in this process after all
        self._pool = pool
        self._ahead = workers * 3
        self._run = prepare_run
        self._sources = sources
        self._tasks = deque(self._group(sources))
        self._where: dict[int, tuple[Future[list[Prepared]], int]] = {}
        self._left: dict[Future[list[Prepared]], int] = {}  # results not yet taken
        self._broken = False

    @staticmethod
    def _group(sources: dict[int, Source]) -> Iterator[list[tuple[int, Source]]]:
        task: list[tuple[int, Source]] = []
        size = 0
        for index, source in sources.items():
            if task and (len(task) >= _TASK_FILES or size + source.size > _TASK_BYTES):
                yield task
                task, size = [], 0
            task.append((index, source))
            size += source.size
        if task:
            yield task

    def _fill(self) -> None:
        while self._tasks and len(self._left) < self._ahead and not self._broken:
            task = self._tasks.popleft()
            try:
                future = self._pool.submit(self._run, [s for _, s in task])
            except BrokenProcessPool:
                # Workers could not start (e.g. a __main__ without the `if __name__ ==
                # "__main__"` guard that spawn needs): read the rest here.
                log.warning("ingest workers unavailable; reading files in this process")
                self._broken = True
                return
            self._left[future] = len(task)
            for offset, (index, _) in enumerate(task):
                self._where[index] = (future, offset)

    def ready(self, index: int) -> bool:
        self._fill()
        entry = self._where.get(index)
        return self._broken if entry is None else entry[0].done()

    def result(self, index: int) -> Prepared:
        self._fill()
        source = self._sources.pop(index)
        if index not in self._where:  # the pool broke before this file's task was sent
            return self._here([source])[0]
        future, offset = self._where.pop(index)
        self._left[future] -= 1
        if not self._left[future]:
            del self._left[future]
        try:
            return future.result()[offset]
        except Exception:  # a worker died (BrokenProcessPool) or could not pickle: do it here
            log.exception("ingest worker failed on a task holding %s; reading it here", source.name)
            return self._here([source])[0]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for future, _ in self._where.values():  # results never written: drop their spools
            if future.done() and not future.cancelled() and future.exception() is None:
                for item in future.result():
                    if isinstance(item, PreparedDocument):
                        item.discard()


@dataclass(slots=True)
class _Pending:
    """A finished file waiting for its batch to commit (or an event with nothing to write)."""

    done: int
    event: FileEvent | None = None
    item: PreparedDocument | RowsDocument | AlreadyStored | None = None
    source: Source | None = None


class _Writer:
    """Collects prepared documents and writes them in short transactions, in order."""

    def __init__(self, store: ProjectStore, prepare_again: partial[list[Prepared]]) -> None:
        self._store = store
        self._again = prepare_again
        self._pending: list[_Pending] = []
        self._chars = 0
        self._docs = 0
        self._since = time.monotonic()

    def queue(self, done: int, event: FileEvent) -> None:
        self._pending.append(_Pending(done, event))

    def add(
        self, done: int, item: PreparedDocument | RowsDocument | AlreadyStored, source: Source
    ) -> None:
        if not self._docs:
            self._since = time.monotonic()
        self._pending.append(_Pending(done, item=item, source=source))
        self._docs += 1
        if isinstance(item, RowsDocument):
            self._chars += item.chars
        elif isinstance(item, PreparedDocument):
            self._chars += sum(len(c.text) for part in item.inline for c, _ in part.chunks) + sum(
                len(b.text) for part in item.inline for b in part.blocks
            )

    def full(self) -> bool:
        return (
            self._chars >= _BATCH_CHARS
            or self._docs >= _BATCH_DOCS
            or (self._docs > 0 and time.monotonic() - self._since >= _BATCH_SECONDS)
        )

    def flush(self, total: int) -> Iterator[FileEvent]:
        """Commit what is collected; yield every waiting event, in order."""
        pending, self._pending = self._pending, []
        self._chars = self._docs = 0
        writes = [p for p in pending if p.item is not None]
        events = dict(zip(map(id, writes), self._write(writes), strict=True))
        for p in pending:
            event = p.event if p.item is None else events[id(p)]
            assert event is not None
            yield dataclasses.replace(event, done=p.done, total=total)

    def _write(self, writes: list[_Pending]) -> list[FileEvent]:
        if not writes:
            return []
        items = [p.item for p in writes if p.item is not None]
        keys = [p.source.source_key for p in writes if p.source is not None]
        try:
            outcomes = write_batch(self._store, items, source_keys=keys)
        except ProjectGone:
            raise  # the whole batch stops, loudly: nothing more can be stored
        except Exception as exc:  # retried one by one below: each fails alone
            if len(writes) == 1:
                return [self._write_error(writes[0], exc)]
            return [event for p in writes for event in self._write([p])]
        out = []
        for p, item, outcome in zip(writes, items, outcomes, strict=True):
            if outcome is None:  # removed while we read: read it again
                assert p.source is not None
                again = self._again([p.source])[0]
                out.append(self.write_now(again, p.source))
            else:
                out.append(_done_event(item.name, outcome, item.seconds))
        return out

    @staticmethod
    def _write_error(p: _Pending, exc: Exception) -> FileEvent:
        assert p.item is not None
        if isinstance(exc, WriteBusy):
            return _busy_event(p.item.name)
        log.exception("could not save %s", p.item.name)
        return FileEvent(
            p.item.name, FileStatus.FAILED, f"could not be saved in the project ({exc}); try again"
        )

    def write_now(self, prepared: Prepared, source: Source) -> FileEvent:
        """Write one document at once (a big one in parts); the caller flushed before."""
        if isinstance(prepared, PrepareFailed):
            return _failed_event(prepared)
        if not isinstance(prepared, PreparedDocument) or prepared.spool is None:
            return self._write([_Pending(0, item=prepared, source=source)])[0]
        try:
            outcome = write_large(self._store, prepared, source_key=source.source_key)
        except WriteBusy:
            return _busy_event(prepared.name)
        finally:
            prepared.discard()
        return _done_event(prepared.name, outcome, prepared.seconds)


def _remove_dead_spools(folder: Path) -> None:
    """Delete spool folders (`.intake-PID-*`) left by ingests whose process is gone."""
    for spool in folder.glob(".intake-*-*"):
        pid = spool.name.split("-")[1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(spool, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


def _workers(settings: Settings) -> int:
    wanted = settings.ingest.workers
    if wanted:
        return wanted
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def ingest_paths(
    store: ProjectStore,
    paths: Sequence[Path],
    settings: Settings,
    *,
    cancel: threading.Event | None = None,
) -> Iterator[FileEvent]:
    """Ingest every file under `paths` (see the module docstring). Yields `reading` before a
    file it waits for and a final event (added / replaced / unchanged / skipped / failed) for
    every file, in walk order. Cancelling stops between files (raises `Cancelled`)."""
    clean_interrupted(store)
    known: dict[str, KnownSource] = fingerprints(store)

    def holds(source_key: str, fingerprint: str) -> bool:
        seen = known.get(source_key)
        return seen is not None and seen.fingerprint == fingerprint

    _remove_dead_spools(store.path.parent)
    spool_dir = tempfile.mkdtemp(prefix=f".intake-{os.getpid()}-", dir=store.path.parent)
    # Walk, and start the workers as soon as the batch is big enough for them, so that
    # their start-up overlaps the rest of the walk.
    wanted = _workers(settings)
    pool: ProcessPoolExecutor | None = None
    items: list[SourceItem] = []
    to_prepare: dict[int, Source] = {}
    size = 0
    try:
        for index, item in enumerate(
            iter_sources(list(paths), limits=limits_from(settings), known=holds)
        ):
            items.append(item)
            if isinstance(item, Source) and not holds(item.source_key, item.fingerprint):
                to_prepare[index] = item
                size += item.size
                n = len(to_prepare)
                big = n >= PARALLEL_MIN_FILES or size >= PARALLEL_MIN_BYTES
                if pool is None and wanted > 1 and n > 1 and big:
                    pool = _start_workers(wanted)
                    wanted = wanted if pool is not None else 1
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(spool_dir, ignore_errors=True)
        raise
    total = len(items)
    run = partial(
        _prepare_run,
        chunking=chunk_settings_from(settings),
        db_path=str(store.path),
        spool_dir=spool_dir,
        inline_chars=settings.ingest.inline_mb * 1024 * 1024,
        max_pages=settings.ingest.max_pages,
    )
    # Here, ask the store's own connection (a second one would stay open after the ingest).
    here = partial(run, stored=lambda doc_id: store.document_by_hash(doc_id) is not None)
    preparer: _Serial | _Pool
    if pool is not None:
        preparer = _Pool(pool, dict(to_prepare), partial(run, rows=True), wanted, here=here)
    else:
        preparer = _Serial(dict(to_prepare), here)
    writer = _Writer(store, here)
    try:
        for done, item in enumerate(items, start=1):
            if cancel is not None and cancel.is_set():
                yield from writer.flush(total)
                raise Cancelled(
                    f"ingest stopped after {done - 1} of {total} files; run it again to continue"
                )
            if isinstance(item, Skipped):
                writer.queue(done, FileEvent(item.name, FileStatus.SKIPPED, item.reason))
            elif isinstance(item, IngestError):
                writer.queue(done, FileEvent(item.name, FileStatus.FAILED, item.reason))
            elif done - 1 not in to_prepare:
                writer.queue(
                    done, _done_event(item.name, known[item.source_key].unchanged(item.name), 0.0)
                )
            else:
                if not preparer.ready(done - 1):
                    # Do not keep finished files waiting behind one still being read.
                    yield from writer.flush(total)
                    yield FileEvent(item.name, FileStatus.READING, done=done - 1, total=total)
                elif isinstance(preparer, _Serial):  # it is read now, here: say so
                    yield FileEvent(item.name, FileStatus.READING, done=done - 1, total=total)
                prepared = preparer.result(done - 1)
                if isinstance(prepared, PrepareFailed):
                    writer.queue(done, _failed_event(prepared))
                elif isinstance(prepared, PreparedDocument) and prepared.spool is not None:
                    yield from writer.flush(total)
                    event = writer.write_now(prepared, item)
                    yield dataclasses.replace(event, done=done, total=total)
                else:
                    writer.add(done, prepared, item)
            if writer.full():
                yield from writer.flush(total)
        yield from writer.flush(total)
    finally:
        preparer.close()
        shutil.rmtree(spool_dir, ignore_errors=True)
