"""Two real processes on one project: a long write in one while the other records an answer,
a delete while another process ingests, and concurrent first opens of a pre-upgrade project.
No fakes at the seam: real SQLite files, real file locks, real `tomes ingest` processes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import AnswerPending, ProjectBusy
from engine.settings import Settings
from engine.store.migrations import MIGRATIONS
from engine.workspace import Workspace
from tests.support.answers import sample_answer
from tests.support.fixtures import make_pdf

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
FAKE = {"model.backend": "fake", "retrieval.embeddings": False}

# Holds the project's write lock (BEGIN IMMEDIATE) for argv[2] seconds, as a long ingest
# inside one transaction does; prints "locked" once it holds it.
_HOLD_WRITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('busy', 'yes')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def _child_env(home: Path) -> dict[str, str]:
    return {**os.environ, "TOMES_HOME": str(home), "PYTHONPATH": str(ROOT)}


def _hold_lock(db: Path, seconds: float, home: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITE_LOCK, str(db), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=_child_env(home),
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_an_answer_is_kept_while_another_process_writes_and_saved_after(
    tomes_home: Path,
) -> None:
    ws = Workspace(Settings.load(overrides=FAKE))
    project = ws.create_project("Acme")
    with ws.chats(project) as chats:
        session = chats.create_session().id
    answer = sample_answer()
    holder = _hold_lock(project.db_path, 6.0, tomes_home)
    try:
        started = time.perf_counter()
        with pytest.raises(AnswerPending, match="kept and will be saved") as info:
            ws.record(project, session, answer, wait_s=1.0)
        assert time.perf_counter() - started < 5  # the user is told promptly
        kept = Path(info.value.path)
        assert kept.is_file() and kept.parent == project.folder / "pending"
        assert kept.stat().st_mode & 0o077 == 0  # private, like the database
        assert json.loads(kept.read_text())["question"] == answer.question
    finally:
        assert holder.wait(timeout=60) == 0
    deadline = time.monotonic() + 30
    while kept.exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # the background saver retries once the lock frees
    assert not kept.exists(), "the kept answer was not saved after the lock freed"
    with ws.chats(project) as chats:
        assert chats.answers(session) == [answer]
    ws.close()


def test_an_answer_kept_at_exit_is_saved_the_next_time_the_chats_open(tomes_home: Path) -> None:
    ws = Workspace(Settings.load(overrides=FAKE))
    project = ws.create_project("Acme")
    with ws.chats(project) as chats:
        session = chats.create_session().id
    holder = _hold_lock(project.db_path, 9.0, tomes_home)
    try:
        with pytest.raises(AnswerPending):
            ws.record(project, session, sample_answer(), wait_s=0.5)
        ws.close()  # still locked: the answer stays on disk, and the log says where
    finally:
        assert holder.wait(timeout=60) == 0
    assert list((project.folder / "pending").glob("*.json"))
    again = Workspace(Settings.load(overrides=FAKE))
    with again.chats(project) as chats:
        assert chats.answers(session) == [sample_answer()]
    assert not list((project.folder / "pending").glob("*.json"))
    again.close()


def _ingest_process(home: Path, folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "ingest", str(folder), "--project", "Acme"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_child_env(home),
        cwd=ROOT,
    )


def _wait_for_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 120) -> str:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if line.startswith(prefix):
            return seen
    raise AssertionError(f"no line starting {prefix!r}:\n{seen}")


@contextlib.contextmanager
def _paused(proc: subprocess.Popen[str]) -> Iterator[None]:
    """Freeze a running process (SIGSTOP) for the block, then let it go on (SIGCONT).

    Ingest writes many documents per short transaction, so a few hundred small PDFs are
    stored in about a second: racing the ingest with a sleep or a file count is a timing
    test. A stopped process keeps its locks and its place mid-batch, so what the block
    does happens mid-ingest on any machine."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def _many_pdfs(folder: Path, n: int) -> Path:
    for i in range(n):
        make_pdf(folder / f"annex-{i:03d}.pdf", [f"Annex {i} page {p}. " * 40 for p in range(6)])
    return folder


def test_deleting_a_project_another_process_is_ingesting_waits_then_refuses(
    tomes_home: Path, tmp_path: Path
) -> None:
    ws = Workspace(Settings.load(overrides=FAKE))
    project = ws.create_project("Acme")
    inbox = _many_pdfs(tmp_path / "inbox", 400)
    ingest = _ingest_process(tomes_home, inbox)
    try:
        _wait_for_line(ingest, "ok")  # it is writing now
        with _paused(ingest):  # ... and stays mid-ingest, holding the project's lock
            assert ingest.poll() is None, "the ingest ended before the delete could be tried"
            started = time.perf_counter()
            with pytest.raises(ProjectBusy, match="cannot delete the project 'Acme' now") as info:
                ws.projects.delete("Acme", wait=1.0)
            assert "process" in str(info.value) and "try again" in str(info.value)
            assert 0.9 < time.perf_counter() - started < 30
            assert ws.projects.exists("Acme")
        out, _ = ingest.communicate(timeout=600)
    finally:
        if ingest.poll() is None:
            ingest.kill()
    assert ingest.returncode == 0, out
    assert len(ws.documents(project)) == 400  # nothing was lost
    ws.projects.delete("Acme", wait=1.0)  # now it is free
    assert not ws.projects.exists("Acme")
    ws.close()


def test_an_ingest_whose_project_is_removed_under_it_fails_loudly(
    tomes_home: Path, tmp_path: Path
) -> None:
    """Something that ignores the lock (rm -rf) removes the project mid-ingest: the ingest
    stops with a message and exit status 1 instead of reporting success."""
    ws = Workspace(Settings.load(overrides=FAKE))
    project = ws.create_project("Acme")
    inbox = _many_pdfs(tmp_path / "inbox", 400)
    ingest = _ingest_process(tomes_home, inbox)
    try:
        _wait_for_line(ingest, "ok")
        with _paused(ingest):  # mid-ingest for sure (see _paused)
            assert ingest.poll() is None, "the ingest ended before the project was removed"
            shutil.rmtree(project.folder)
        out, _ = ingest.communicate(timeout=600)
    finally:
        if ingest.poll() is None:
            ingest.kill()
    assert ingest.returncode == 1, out
    assert "was deleted" in out and "Traceback" not in out
    assert not project.folder.exists()  # not brought back as an empty database
    ws.close()


_OPEN_AND_COUNT = """
import sys
from engine.store import ProjectStore
from engine.store.chats import ChatLog
with ProjectStore(sys.argv[1]) as store:
    print(len(store.documents()), len(ChatLog(store).sessions()))
"""


def test_concurrent_first_opens_after_an_upgrade_migrate_once(tomes_home: Path) -> None:
    """A project written by the first schema release (every later step pending), opened by
    four processes at once: one migrates (after one backup), the others wait and find it
    done; none sees "table … already exists"."""
    from sqlite_utils import Database

    folder = tomes_home / "projects" / "old"
    folder.mkdir(parents=True)
    db = folder / "project.db"
    old = Database(db)
    MIGRATIONS.apply(old, stop_before=MIGRATIONS._migrations[1].name)
    old.execute("INSERT INTO meta(key, value) VALUES ('name', 'Old')")
    old.conn.commit()
    old.close()
    assert MIGRATIONS.pending(Database(db))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AND_COUNT, str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(tomes_home),
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.split() == ["0", "0"], (out, err)
        assert "already exists" not in err
    import sqlite3

    conn = sqlite3.connect(db)
    names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
    conn.close()
    assert len(names) == len(set(names)) == len(MIGRATIONS._migrations)
    assert len(list((folder / "backups").glob("*.db"))) == 1  # one process migrated


def test_ocr_and_embedding_passes_hold_the_project_lock(tomes_home: Path, tmp_path: Path) -> None:
    """`tomes ingest` goes on writing after the files are in: it reads scanned pages (ocr)
    and embeds what was added (retrieval). Both hold the project's lock (secure) like ingest
    and indexing, so a delete meanwhile waits and then refuses instead of removing the
    project under them."""
    from tests.support.fixtures import make_image_only_pdf

    ws = Workspace(Settings.load(overrides=FAKE))
    project = ws.create_project("Acme")
    (tmp_path / "notes.txt").write_text("The deposit is three months of rent. " * 200)
    scan = make_image_only_pdf(tmp_path / "scan.pdf")
    events = list(ws.ingest(project, [tmp_path / "notes.txt", scan], background_index=False))
    assert all(e.ok for e in events if e.status != "reading"), events
    # dense search on, with the numpy MiniLM (loads in under a second)
    embedding = Workspace(
        Settings.load(overrides={"model.backend": "fake", "retrieval.embedder": "numpy"})
    )
    passes = {
        "reading scanned pages": ws.read_scans(project),
        "embedding": embedding.build_embeddings(project),
    }
    try:
        for what, steps in passes.items():
            next(steps)  # mid-pass: it holds the lock now
            with pytest.raises(ProjectBusy, match="cannot delete the project 'Acme' now"):
                ws.projects.delete("Acme", wait=0.3)
            steps.close()
            assert ws.projects.exists("Acme"), what
        ws.projects.delete("Acme", wait=1.0)  # both passes are over: free
        assert not ws.projects.exists("Acme")
    finally:
        embedding.close()
        ws.close()
