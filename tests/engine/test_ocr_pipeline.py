"""Scanned documents end to end, with the real OCR engine, store and tokenizer: pages read
after ingest become searchable with the right page, a citation on a scanned page highlights
the right words on the page image, a mixed PDF keeps its text-layer pages untouched, chunk
ordinals follow reading order, `tomes ingest` reads scans before it returns (and resumes
after kill -9), and the background job reports "Reading scanned pages"."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from engine.index.indexer import Phase
from engine.settings import Settings
from engine.store import ocr as ocr_store
from engine.workspace import Workspace
from tests.support.scans import degrade, font, scan_pdf, text_page

ROOT = Path(__file__).resolve().parents[2]

CONTRACT = [
    "Schedule B: Fees",
    "",
    "The monthly service fee is seven thousand euros.",
    "Invoices are payable within thirty days of receipt.",
]
TERMS = ["Termination", "", "Either party may terminate with ninety days notice."]


@pytest.fixture
def workspace(tomes_home: Path) -> Workspace:
    settings = Settings.load(overrides={"retrieval.embeddings": False})
    ws = Workspace(settings)
    yield ws
    ws.close()


def _ingest(ws: Workspace, name: str, paths: list[Path]) -> None:
    project = ws.project(name, create=True)
    events = [e for e in ws.ingest(project, paths, background_index=False) if e.status != "reading"]
    assert all(e.ok for e in events), events


def test_scans_become_searchable_with_their_page_and_text_pages_stay(
    tmp_path: Path, workspace: Workspace
) -> None:
    scan = degrade(text_page(CONTRACT, dpi=150), rotate=0.8, noise=6)
    mixed = scan_pdf(
        tmp_path / "mixed.pdf",
        ["Page one is typed. Governing law is Swiss.", scan, "Page three is typed too."],
        dpi=150,
    )
    png = tmp_path / "terms.png"
    text_page(TERMS, dpi=150).rotate(90, expand=True).save(png)  # scanned sideways
    _ingest(workspace, "Scans", [mixed, png])
    project = workspace.project("Scans")
    with project.open() as store:
        docs = {d.name: d for d in store.documents()}
        before = {
            r[0]: r[1] for r in store.db.execute("SELECT id, text FROM chunks ORDER BY ordinal")
        }
        assert ocr_store.count_pending(store) == 2
        assert not store.search("seven thousand euros")
    steps = list(workspace.read_scans(project))
    assert [s.done for s in steps] == [0, 1, 2] and steps[-1].total == 2
    with project.open() as store:
        assert ocr_store.count_pending(store) == 0
        hits = store.search("seven thousand euros")
        assert hits and hits[0][0].locator.page == 2 and hits[0][0].document == "mixed.pdf"
        terms = store.search("ninety days notice")[0][0]
        assert terms.document == "terms.png" and terms.locator.page == 1
        # the text-layer pages' chunks are exactly as they were
        after = {r[0]: r[1] for r in store.db.execute("SELECT id, text FROM chunks")}
        assert {k: after[k] for k in before} == before
        # reading order is ordinal order: p1 < p2 (OCR) < p3
        rows = store.db.execute(
            "SELECT page FROM chunks WHERE doc_id = ? ORDER BY ordinal", [docs["mixed.pdf"].id]
        ).fetchall()
        assert [r[0] for r in rows] == sorted(r[0] for r in rows) and {1, 2, 3} <= {
            r[0] for r in rows
        }
        n = store.db.execute(
            "SELECT count(*) FROM chunks WHERE doc_id = ?", [docs["mixed.pdf"].id]
        ).fetchone()[0]
        assert store.document(docs["mixed.pdf"].id).n_chunks == n
        row = ocr_store.page_row(store, docs["terms.png"].id, 1)
        assert row is not None and row.rotation == 90 and row.status == "text"
    # a second run has nothing left to read
    assert list(workspace.read_scans(project)) == []


def test_a_citation_on_a_scanned_page_highlights_its_words_on_the_image(
    tmp_path: Path, workspace: Workspace
) -> None:
    page = text_page(CONTRACT, dpi=150)
    pdf = scan_pdf(tmp_path / "scan.pdf", [text_page(["Cover page"], dpi=150), page], dpi=150)
    _ingest(workspace, "Cite", [pdf])
    project = workspace.project("Cite")
    list(workspace.read_scans(project))
    with project.open() as store:
        (hit, _), *_ = store.search("seven thousand euros")
        doc_id = hit.doc_id
    view = workspace.open_source(project, doc_id, hit.locator, quote="seven thousand euros")
    assert view.page == 2 and view.ocr_status == "text" and view.ocr_confidence
    assert view.text[slice(*view.highlights[0])] == "seven thousand euros"
    assert len(view.boxes) == 3
    # the boxes are where the words were drawn (line 3 of the page, after "...fee is ")
    px = round(12 * 150 / 72)
    top = (150 + round(px * 1.5) * 2) / 1650
    assert all(abs(b[1] - top) < 0.02 for b in view.boxes)
    from PIL import ImageDraw

    lead = ImageDraw.Draw(Image.new("L", (1, 1))).textlength(
        "The monthly service fee is ", font=font(px)
    )
    assert abs(view.boxes[0][0] - (150 + lead) / 1275) < 0.02
    # and the page image is painted there
    assert view.image is not None
    image = Image.open(io.BytesIO(view.image)).convert("RGB")
    import numpy as np

    def yellow_share(box: tuple[float, float, float, float]) -> float:
        x0, y0, x1, y1 = (round(v * s) for v, s in zip(box, image.size * 2, strict=True))
        px = np.asarray(image)[y0:y1, x0:x1].reshape(-1, 3).astype(int)
        return float(((px[:, 0] > 180) & (px[:, 2] < 160)).mean())

    assert all(yellow_share(b) > 0.3 for b in view.boxes)
    assert yellow_share((0.05, 0.02, 0.3, 0.06)) == 0  # the margin above is not painted


def test_background_job_reads_scans_first_and_says_so(tmp_path: Path, workspace: Workspace) -> None:
    pdf = scan_pdf(tmp_path / "s.pdf", [text_page(CONTRACT, dpi=120)], dpi=120)
    _ingest(workspace, "Bg", [pdf])
    project = workspace.project("Bg")
    steps = list(workspace.index(project, tree=False))
    assert steps[0].phase is Phase.OCR
    assert Phase.OCR.label == "Reading scanned pages"
    with project.open() as store:
        assert store.search("thirty days of receipt")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOMES_")}
    env.update(
        PYTHONUNBUFFERED="1",
        TOMES_HOME=str(home),
        TOMES_RETRIEVAL_EMBEDDINGS="0",
        TOMES_OCR_WORKERS="1",
        PYTHONPATH=str(ROOT),
    )
    return env


def _read_pages(db: Path) -> list[tuple[int, str]]:
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT page, done_at FROM ocr_pages ORDER BY page").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return []


def test_tomes_ingest_reads_scans_and_resumes_after_kill(tmp_path: Path, tomes_home: Path) -> None:
    pages = [text_page([f"Scanned page {i} of the lease.", CONTRACT[2]], dpi=110) for i in range(6)]
    pdf = scan_pdf(tmp_path / "lease.pdf", pages, dpi=110)
    env = _env(tomes_home)
    cmd = [sys.executable, "-m", "app.cli", "ingest", str(pdf), "--project", "Lease"]
    # --no-ocr leaves them for later
    quick = subprocess.run([*cmd, "--no-ocr"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert quick.returncode == 0, quick.stderr
    assert "scanned: its 6 page(s) are read by OCR" in quick.stdout
    db = tomes_home / "projects" / "lease" / "project.db"
    assert _read_pages(db) == []
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(_read_pages(db)) < 2:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "OCR did not start"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    kept = _read_pages(db)
    assert 2 <= len(kept) < 6
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "unchanged" in done.stdout
    # only the unread pages were read, one stderr line each
    assert done.stderr.count("ocr       lease.pdf p.") == 6 - len(kept), done.stderr
    final = _read_pages(db)
    assert [p for p, _ in final] == [1, 2, 3, 4, 5, 6]
    assert final[: len(kept)] == kept  # finished pages were not read again
    search = subprocess.run(
        [sys.executable, "-m", "app.cli", "ask", "Scanned page 5", "--project", "Lease",
         "--retrieve-only", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert search.returncode == 0, search.stderr
    assert '"page": 5' in search.stdout


def test_low_confidence_pages_are_marked_in_the_list_and_in_citations(
    tmp_path: Path, workspace: Workspace
) -> None:
    from app.views import chips_html, documents_rows
    from engine.types import Citation
    from ingest.ocr.types import OcrPage, PageStatus
    from ingest.types import Locator

    pdf = scan_pdf(
        tmp_path / "faded.pdf", [text_page(CONTRACT, dpi=100), text_page(TERMS, dpi=100)], dpi=100
    )
    _ingest(workspace, "Faded", [pdf])
    project = workspace.project("Faded")
    with project.open() as store:
        (doc,) = store.documents()
        assert (
            "2 scanned page(s): waiting"
            in documents_rows([doc], ocr_store.ocr_summaries(store))[0][-1]
        )
        doubtful = OcrPage("Faded text.\n", (), 0.7, PageStatus.LOW_CONFIDENCE, width=850)
        assert ocr_store.save_page(store, doc.id, 1, doubtful, "test")
        assert not ocr_store.save_page(store, doc.id, 1, doubtful, "test")  # once only
        ocr_store.save_failure(store, doc.id, [2], "page 2 is damaged")
        note = documents_rows([doc], ocr_store.ocr_summaries(store))[0][-1]
    assert "2 of 2 scanned page(s) read" in note
    assert "low OCR confidence on p. 1" in note and "could not be read: p. 2" in note
    cite = Citation("c1", f"{doc.id[:16]}:0", "faded.pdf", Locator(page=1), "Faded", doc_id=doc.id)
    marked = workspace.doubtful_pages(project, [cite])
    assert marked == {(doc.id, 1)}
    html = chips_html([cite], doubtful=marked)
    assert "ocr-doubtful" in html and "⚠ faded.pdf p. 1" in html and "low confidence" in html
    assert list(workspace.read_scans(project)) == []  # nothing left: failed pages stay failed
    view = workspace.open_source(project, doc.id, Locator(page=2))
    assert any("could not be read: page 2 is damaged" in n for n in view.notes)


def test_reading_scans_is_cancellable_and_resumes(tmp_path: Path, tomes_home: Path) -> None:
    import threading

    from engine.errors import Cancelled

    ws = Workspace(Settings.load(overrides={"retrieval.embeddings": False, "ocr.workers": 1}))
    try:
        pages = [text_page([f"Page {i} of the annex.", CONTRACT[2]], dpi=100) for i in range(5)]
        _ingest(ws, "Stop", [scan_pdf(tmp_path / "annex.pdf", pages, dpi=100)])
        project = ws.project("Stop")
        cancel = threading.Event()
        seen = []
        with pytest.raises(Cancelled, match="resumes where it stopped"):
            for step in ws.read_scans(project, cancel=cancel):
                seen.append(step.done)
                if step.done == 1:
                    cancel.set()
        with project.open() as store:
            left = ocr_store.count_pending(store)
        assert 0 < left < 5
        rest = list(ws.read_scans(project))
        assert rest[-1].total == left and rest[-1].done == left
    finally:
        ws.close()
