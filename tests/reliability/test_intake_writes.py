"""Two real processes on one project (issue 12): a long ingest runs while another process
records chat answers, and every answer is saved promptly; and kill -9 in the middle of a big
document leaves nothing of it visible, and the next ingest cleans up and finishes it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from engine.store import ProjectStore
from engine.store.chats import ChatLog
from engine.store.projects import Projects
from tests.reliability.test_crash import _count, _env, _wait_until

ROOT = Path(__file__).resolve().parents[2]
# Written in parts of 256 chunks: a 6 MB file takes ~17 short transactions.
BIG_ENV = {"TOMES_INGEST_INLINE_MB": "1", "TOMES_INGEST_WORKERS": "1"}


def _big_text(path: Path, mb: int = 6) -> Path:
    line = "The quarterly report lists revenue, costs and the outlook for each region.\n"
    with open(path, "w") as fh:
        for i in range(mb * 1024 * 1024 // (len(line) + 8)):
            fh.write(f"{i:07d} {line}")
    return path


def _ingest(path: Path, project: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "ingest", str(path), "--project", project],
        cwd=ROOT,
        env=_env(**BIG_ENV),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _visible(db: Path) -> int:
    """Chunks any reader can see (they reach chunks through documents)."""
    return _count(db, "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.doc_id")


def test_answers_are_saved_promptly_during_a_long_ingest(tmp_path: Path, tomes_home: Path) -> None:
    big = _big_text(tmp_path / "report.txt")
    project = Projects(tomes_home).create("Busy")
    with project.open() as store:
        session = ChatLog(store).create_session("During ingest").id
    stop = tmp_path / "stop"
    recorder = textwrap.dedent(
        f"""
        import json, sqlite3, time
        from pathlib import Path
        from engine.store import ProjectStore
        from engine.store.chats import ChatLog
        from tests.support.answers import sample_answer
        db = Path({str(project.db_path)!r})
        saves = []
        while not Path({str(stop)!r}).exists() or len(saves) < 3:
            with ProjectStore(db) as store:
                t0 = time.perf_counter()
                ChatLog(store).add_exchange({session}, "What is the outlook?", sample_answer())
                took = time.perf_counter() - t0
                mid = store.db.execute("SELECT count(*) FROM intake_writes").fetchone()[0]
            saves.append([took, mid])
            time.sleep(0.05)
        print(json.dumps(saves))
        """
    )
    ingest = _ingest(big, "Busy")
    answers = subprocess.Popen(
        [sys.executable, "-c", recorder],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, _ = ingest.communicate(timeout=300)
    stop.touch()
    saved, err = answers.communicate(timeout=120)
    assert ingest.returncode == 0, out
    assert answers.returncode == 0, err
    saves = json.loads(saved)
    mid_document = [took for took, mid in saves if mid]
    assert mid_document, "no answer was saved while the big document was being written"
    assert max(took for took, _ in saves) < 3.0, saves  # never behind a whole document
    with project.open() as store:
        assert len(ChatLog(store).messages(session)) == 2 * len(saves)
        assert store.documents()[0].n_chunks > 256 * 4
    print(
        f"\n{len(saves)} answers saved during the ingest ({len(mid_document)} mid-document), "
        f"slowest {max(t for t, _ in saves):.3f}s"
    )


def test_kill_mid_big_document_leaves_nothing_visible(tmp_path: Path, tomes_home: Path) -> None:
    big = _big_text(tmp_path / "report.txt")
    db = tomes_home / "projects" / "crashbig" / "project.db"
    proc = _ingest(big, "CrashBig")
    _wait_until(
        lambda: (
            _count(db, "SELECT count(*) FROM intake_writes") > 0
            and _count(db, "SELECT count(*) FROM chunks") > 256
        ),
        proc,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    left = _count(db, "SELECT count(*) FROM chunks")
    assert left > 0 and _count(db, "SELECT count(*) FROM documents") == 0
    assert _visible(db) == 0  # written rows, but no reader sees half a document
    with ProjectStore(db) as store:
        assert store.documents() == [] and store.search("quarterly") == []
        assert store.integrity_ok()
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "ingest", str(big), "--project", "CrashBig"],
        cwd=ROOT,
        env=_env(**BIG_ENV),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(db)
    try:
        (n_docs, n_chunks), *_ = conn.execute(
            "SELECT count(*), sum(n_chunks) FROM documents"
        ).fetchall()
        assert n_docs == 1
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == n_chunks
        assert conn.execute("SELECT count(*) FROM intake_writes").fetchone()[0] == 0
    finally:
        conn.close()
    assert not list(db.parent.glob(".intake-*"))  # the killed run's spool folder is gone too
