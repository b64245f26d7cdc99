"""The ingest pipeline (issues 12 and 14) on real files, the real store and the real tokenizer:
the parallel path gives exactly what the serial one does, unchanged files are skipped by
fingerprint, a big document is written in parts that nobody sees before the last one, a bad
file fails alone, and cancelling stops between files."""

from __future__ import annotations

import os
import sqlite3
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

import engine.intake as intake
from engine.errors import Cancelled
from engine.intake import FileEvent, ingest_paths
from engine.settings import Settings
from engine.store import ProjectStore
from engine.store.writes import write_large
from ingest.prepare import PreparedDocument, prepare
from ingest.sources import iter_sources
from tests.support.fixtures import make_corrupt_pdf, make_pdf

OLD_NS = 1_600_000_000 * 10**9  # 2020: well past the racy window


def _module(i: int) -> str:
    return (
        f'"""Module {i}."""\n\nLIMIT_{i} = {i}\n\n\n'
        f"def helper_{i}(values):\n    total = 0\n    for v in values:\n"
        f"        total += v * {i % 7 + 1}\n    return total + LIMIT_{i}\n\n\n"
        f"class Thing{i}:\n    def size(self):\n        return {i}\n"
    )


def make_tree(root: Path, n: int = 2000) -> Path:
    """A codebase of `n` small files in nested folders: code, Markdown, text, a duplicate,
    a binary file, an ignored folder and one corrupt PDF. mtimes are old, so fingerprints
    are trusted."""
    for i in range(n):
        folder = root / f"pkg{i % 9}" / f"sub{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 10 == 0:
            path = folder / f"notes_{i}.md"
            path.write_text(f"# Notes {i}\n\nThe value of item {i} is {i * 3}.\n" * (1 + i % 5))
        elif i % 10 == 1:
            path = folder / f"readme_{i}.txt"
            path.write_text(f"Plain text file number {i}.\n" * (1 + i % 40))
        else:
            path = folder / f"mod_{i}.py"
            path.write_text(_module(i) * (1 + i % 3))
    (root / "pkg0" / "copy_of_mod_2.py").write_bytes((root / "pkg2/sub2/mod_2.py").read_bytes())
    (root / "pkg1" / "blob.bin").write_bytes(bytes(range(256)) * 8)
    (root / "build").mkdir()
    (root / "build" / "out.py").write_text("ignored = True\n")
    make_corrupt_pdf(root / "pkg3" / "broken.pdf")
    make_pdf(root / "pkg4" / "paper.pdf", ["Page one of the paper.", "Page two, the end."])
    for path in root.rglob("*"):
        os.utime(path, ns=(OLD_NS, OLD_NS))
    return root


def settings(**ingest: Any) -> Settings:
    return Settings.load(overrides={f"ingest.{k}": v for k, v in ingest.items()})


def run(store: ProjectStore, paths: list[Path], s: Settings, **kw: Any) -> list[FileEvent]:
    return list(ingest_paths(store, paths, s, **kw))


def finals(events: list[FileEvent]) -> list[FileEvent]:
    return [e for e in events if e.status != "reading"]


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that makes up the documents (added_at aside)."""
    conn = sqlite3.connect(db)
    try:
        return {
            "documents": conn.execute(
                "SELECT id, name, source_key, kind, language, path, size_bytes, n_pages, "
                "n_blocks, n_chunks, n_tokens, ocr_pages, meta FROM documents ORDER BY rowid"
            ).fetchall(),
            "chunks": conn.execute("SELECT rowid, * FROM chunks ORDER BY rowid").fetchall(),
            "blocks": conn.execute("SELECT * FROM blocks ORDER BY doc_id, ordinal").fetchall(),
            "fts": conn.execute(
                "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH 'helper' ORDER BY rowid"
            ).fetchall(),
        }
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def small_batches_use_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test trees are small: let them start the worker pool anyway (our own seam)."""
    monkeypatch.setattr(intake, "PARALLEL_MIN_FILES", 64)


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Records every worker pool the pipeline starts (our own seam: the _Pool class)."""
    started: list[Any] = []

    class Recorded(intake._Pool):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(intake, "_Pool", Recorded)
    return started


def test_parallel_ingest_is_identical_to_serial(tmp_path: Path, pools: list[Any]) -> None:
    tree = make_tree(tmp_path / "repo")
    with ProjectStore(tmp_path / "serial.db") as store:
        serial = run(store, [tree], settings(workers=1))
    assert not pools
    with ProjectStore(tmp_path / "parallel.db") as store:
        parallel = run(store, [tree], settings(workers=2))
    assert len(pools) == 1  # the worker processes did the reading

    def comparable(events: list[FileEvent]) -> list[tuple[Any, ...]]:
        return [
            (e.name, e.status, e.reason, e.n_chunks, e.n_pages, e.doc_id, e.done) for e in events
        ]

    assert comparable(finals(parallel)) == comparable(finals(serial))
    assert dump(tmp_path / "parallel.db") == dump(tmp_path / "serial.db")
    by_status: dict[str, int] = {}
    for e in finals(parallel):
        by_status[e.status] = by_status.get(e.status, 0) + 1
    assert by_status["added"] == 2000 + 1  # the files and the PDF; the copy is a duplicate
    assert by_status["failed"] == 1 and by_status["unchanged"] == 1
    broken = next(e for e in finals(parallel) if e.failed)
    assert broken.name.endswith("broken.pdf") and broken.reason
    # events come in walk order, numbered, each file after its `reading` (when there is one)
    assert [e.done for e in finals(parallel)] == list(range(1, len(finals(parallel)) + 1))
    seen_reading = {e.name for e in parallel if e.status == "reading"}
    for i, e in enumerate(parallel):
        if e.status == "reading":
            assert all(x.name != e.name for x in parallel[:i] if x.status != "reading")
    assert seen_reading  # progress was shown while waiting


def test_unchanged_files_are_skipped_by_fingerprint(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "repo", n=300)
    s = settings(workers=1)
    with ProjectStore(tmp_path / "p.db") as store:
        first = finals(run(store, [tree], s))
        target = tree / "pkg2" / "sub2" / "mod_2.py"
        original = target.read_bytes()
        swapped = tree / "pkg5" / "sub1" / "mod_5.py"
        # Same size, same mtime, other bytes: trusted as unchanged, so it is not even read
        # (what git and rsync do too; a real edit moves the mtime).
        changed = original.replace(b"Module 2.", b"Zqxwvy 2.")
        assert len(changed) == len(original)
        target.write_bytes(changed)
        os.utime(target, ns=(OLD_NS, OLD_NS))
        # Same size, new mtime, new bytes: read again and replaced.
        old_text = swapped.read_bytes()
        new_text = old_text.replace(b"Module 5.", b"Yqxwvz 5.")
        assert len(new_text) == len(old_text)
        swapped.write_bytes(new_text)
        os.utime(swapped, ns=(OLD_NS + 10**9, OLD_NS + 10**9))
        second = finals(run(store, [tree], s))
        status = {e.name: e.status for e in second}
        assert status["repo/pkg2/sub2/mod_2.py"] == "unchanged"
        assert status["repo/pkg5/sub1/mod_5.py"] == "replaced"
        assert sum(e.status == "unchanged" for e in second) == sum(e.ok for e in first) - 1
        assert store.search("Zqxwvy") == []  # never read
        (hit, _), *_ = store.search("Yqxwvz")
        assert hit.document == "repo/pkg5/sub1/mod_5.py" and "Yqxwvz 5." in hit.text


def test_a_freshly_written_file_is_not_trusted_by_fingerprint(tmp_path: Path) -> None:
    fresh = tmp_path / "repo" / "a.py"
    fresh.parent.mkdir()
    fresh.write_text("value = 1\n")
    s = settings(workers=1)
    with ProjectStore(tmp_path / "p.db") as store:
        run(store, [tmp_path / "repo"], s)
        fresh.write_text("value = 2\n")  # same size, and within the racy window
        events = finals(run(store, [tmp_path / "repo"], s))
    assert [e.status for e in events] == ["replaced"]


def test_zip_of_20000_members(tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(20_000):
            z.writestr(f"src/d{i // 500:02d}/f{i:05d}.py", f"def f{i}():\n    return {i}\n")
    with ProjectStore(tmp_path / "p.db") as store:
        events = finals(run(store, [archive], settings(workers=2)))
        assert len(events) == 20_000 and all(e.status == "added" for e in events)
        assert events[12_345].name == "many/src/d24/f12345.py"
        docs = {d.name: d for d in store.documents()}
        assert len(docs) == 20_000
        chunk = store.search("f12345")[0][0]
        assert chunk.document == "many/src/d24/f12345.py"
        assert chunk.text == "def f12345():\n    return 12345\n"
        assert (chunk.locator.line_start, chunk.locator.line_end) == (1, 2)
        again = finals(run(store, [archive], settings(workers=2)))
        assert all(e.status == "unchanged" for e in again)


def test_cancel_stops_between_files_and_keeps_what_is_done(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "repo", n=400)
    cancel = threading.Event()
    s = settings(workers=2)
    seen: list[FileEvent] = []
    with ProjectStore(tmp_path / "p.db") as store:
        with pytest.raises(Cancelled):
            for event in ingest_paths(store, [tree], s, cancel=cancel):
                seen.append(event)
                if len(finals(seen)) >= 50:
                    cancel.set()
        reported = {e.doc_id for e in finals(seen) if e.status == "added"}
        stored = {d.id for d in store.documents()}
        assert reported <= stored  # nothing reported that was not committed
        assert len(stored) < 400
        rest = finals(run(store, [tree], s))
        assert len(store.documents()) == 400 + 1
        assert sum(e.status == "unchanged" for e in rest) >= len(reported)


def _big_text(path: Path, mb: int) -> Path:
    line = "The quarterly report lists revenue, costs and the outlook for each region.\n"
    with open(path, "w") as fh:
        for i in range(mb * 1024 * 1024 // len(line)):
            fh.write(f"{i:07d} {line}")
    return path


def test_big_document_is_written_in_parts_and_matches_in_memory(tmp_path: Path) -> None:
    big = _big_text(tmp_path / "big.txt", 3)
    with ProjectStore(tmp_path / "a.db") as store:
        (spooled,) = finals(run(store, [big], settings(inline_mb=1)))
    with ProjectStore(tmp_path / "b.db") as store:
        (inline,) = finals(run(store, [big], settings(inline_mb=64)))
    assert spooled.status == inline.status == "added"
    assert spooled.n_chunks == inline.n_chunks > 256  # more than one part
    a, b = dump(tmp_path / "a.db"), dump(tmp_path / "b.db")
    assert a["documents"] == b["documents"] and a["chunks"] == b["chunks"]
    assert a["blocks"] == b["blocks"]
    assert not list((tmp_path).glob(".intake-*"))  # the spool folder is gone


def test_an_interrupted_big_write_leaves_nothing_visible(tmp_path: Path) -> None:
    big = _big_text(tmp_path / "big.txt", 2)
    with ProjectStore(tmp_path / "p.db") as store:
        (source,) = list(iter_sources([big]))
        prepared = prepare(
            source, chunking=intake.chunk_settings_from(settings()), inline_chars=1024 * 1024
        )
        assert isinstance(prepared, PreparedDocument) and prepared.spool is not None

        class Stopping(PreparedDocument):
            __slots__ = ()

            def parts(self) -> Iterator[Any]:
                for i, part in enumerate(PreparedDocument.parts(self)):
                    if i == 2:
                        # Mid-write: rows are stored, yet no reader can see them.
                        assert _count(store, "chunks") > 0
                        assert store.documents() == []
                        assert store.search("quarterly") == []
                        assert store.count_chunks() == 0
                        raise KeyboardInterrupt  # as if the user stopped the process here
                    yield part

        stopping = Stopping(**{f.name: getattr(prepared, f.name) for f in fields(prepared)})
        with pytest.raises(KeyboardInterrupt):
            write_large(store, stopping, source_key=source.source_key)
        prepared.discard()
        # The writer removed what it had written; nothing is left half-done.
        assert _count(store, "chunks") == _count(store, "blocks") == 0
        assert _count(store, "intake_writes") == 0
        (event,) = finals(run(store, [big], settings(inline_mb=1)))
        assert event.status == "added" and store.search("quarterly")


def _count(store: ProjectStore, table: str) -> int:
    return int(store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_big_old_version_is_swapped_out_at_once_and_deleted_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    import engine.store.writes as writes

    monkeypatch.setattr(writes, "_RETIRE_CHUNKS", 100)  # our seam: "big" without a big file
    monkeypatch.setattr(writes, "_DRAIN_ROWS", 64)
    big = _big_text(tmp_path / "big.txt", 1)
    s = settings(workers=1)
    with ProjectStore(tmp_path / "p.db") as store:
        (first,) = finals(run(store, [big], s))
        assert first.n_chunks > 100
        with open(big, "a") as fh:
            fh.write("A closing remark about zebrafish.\n")
        (second,) = finals(run(store, [big], s))
        assert second.status == "replaced"
        assert [d.id for d in store.documents()] == [second.doc_id]
        assert _count(store, "chunks") == second.n_chunks  # the old rows are all gone
        assert _count(store, "intake_writes") == 0
        assert store.search("zebrafish")[0][0].doc_id == second.doc_id

        # Retired but not yet drained (as if the process died in between): out of sight,
        # and removed by the next ingest once its writer is known to be gone.
        with store.transaction():
            writes._retire(store, second.doc_id)
        assert store.documents() == [] and store.count_chunks() == 0
        assert _count(store, "chunks") == second.n_chunks
        assert writes.clean_interrupted(store) == []  # this process is alive: left alone
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        with store.transaction():
            store.db.execute("UPDATE intake_writes SET pid = ?", [int(gone.stdout)])
        assert writes.clean_interrupted(store) == [second.doc_id]
        assert _count(store, "chunks") == _count(store, "blocks") == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_the_page_cap_setting_reaches_the_reader_in_and_out_of_the_pool(
    tmp_path: Path, pools: list[Any], workers: int
) -> None:
    """`ingest.max_pages` (secure) is passed by the prepare path (intake), in this process
    and in the pool's workers: a PDF over the cap fails alone, naming the setting."""
    tree = make_tree(tmp_path / "repo", n=80)
    make_pdf(tree / "long.pdf", [f"Page {i} of the long report." for i in range(1, 31)])
    make_pdf(tree / "short.pdf", [f"Page {i} of the short one." for i in range(1, 11)])
    for path in (tree / "long.pdf", tree / "short.pdf"):
        os.utime(path, ns=(OLD_NS, OLD_NS))
    with ProjectStore(tmp_path / "p.db") as store:
        events = finals(run(store, [tree], settings(workers=workers, max_pages=20)))
    assert len(pools) == (1 if workers > 1 else 0)
    by_name = {Path(e.name).name: e for e in events}
    assert by_name["long.pdf"].failed
    assert "limit of 20" in by_name["long.pdf"].reason
    assert "ingest.max_pages" in by_name["long.pdf"].reason
    assert by_name["short.pdf"].status == "added" and by_name["short.pdf"].n_pages == 10
    assert by_name["paper.pdf"].status == "added"  # the batch went on


def test_scanned_pages_reserve_their_ordinals_in_and_out_of_the_pool(
    tmp_path: Path, pools: list[Any]
) -> None:
    """The prepare path (intake) chunks around scanned pages (ocr's `chunk_around_scans`),
    in this process and in the pool's workers: a page without a text layer reserves
    OCR_ORDINALS chunk ordinals where it stands, so its OCR text can later sort between
    its neighbours. Serial and parallel give the same rows."""
    from ingest.ocr.ordinals import OCR_ORDINALS

    tree = make_tree(tmp_path / "repo", n=80)
    mixed = make_pdf(
        tree / "mixed.pdf",
        ["Page one is typed text about the lease.", "", "Page three is typed text too."],
        image_pages={1},
    )
    os.utime(mixed, ns=(OLD_NS, OLD_NS))
    for workers, db in ((1, "serial.db"), (2, "parallel.db")):
        with ProjectStore(tmp_path / db) as store:
            events = finals(run(store, [tree], settings(workers=workers)))
        event = next(e for e in events if e.name.endswith("mixed.pdf"))
        assert event.status == "added" and event.ocr_pages == (2,)
        assert "read by OCR" in event.reason
    assert len(pools) == 1
    assert dump(tmp_path / "parallel.db") == dump(tmp_path / "serial.db")
    conn = sqlite3.connect(tmp_path / "parallel.db")
    try:
        rows = conn.execute(
            "SELECT c.ordinal, c.page FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE d.name LIKE '%mixed.pdf' ORDER BY c.ordinal"
        ).fetchall()
    finally:
        conn.close()
    assert [page for _, page in rows] == [1, 3]
    assert rows[0][0] == 0 and rows[1][0] == 1 + OCR_ORDINALS  # page 2 holds its place
