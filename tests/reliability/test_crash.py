"""Crash safety: kill -9 a real Tomes process during ingest, during the summary-tree build and
during an answer, then reopen the project. It must open, hold no half-written document or
node, resume where it stopped, and keep every earlier chat (WAL + one transaction per
document / node / exchange)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.index.tree.build import build_tree
from engine.index.tree.plan import plan_tree
from engine.index.tree.summarize import ModelSummarizer
from engine.llm.models import ModelManager
from engine.settings import Settings
from engine.store import ProjectStore
from engine.store.chats import ChatLog
from engine.store.projects import Projects
from tests.support.answers import sample_answer
from tests.support.fixtures import make_pdf

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()}
    env.update(PYTHONUNBUFFERED="1", TOMES_RETRIEVAL_EMBEDDINGS="0", **extra)
    return env


def _wait_until(
    check: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(
                f"process ended before the kill point (rc {proc.returncode}): {out[-2000:]}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("kill point not reached in time")
        time.sleep(0.05)


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0  # not created yet


def _assert_consistent(store: ProjectStore) -> None:
    assert store.integrity_ok()
    store.db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')")
    for doc in store.documents():
        chunks = store.db.execute(
            "SELECT count(*) FROM chunks WHERE doc_id = ?", [doc.id]
        ).fetchone()[0]
        assert chunks == doc.n_chunks, (
            f"{doc.name}: {chunks} chunks stored, {doc.n_chunks} recorded"
        )
    orphans = store.db.execute(
        "SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)"
    ).fetchone()[0]
    assert orphans == 0


def _corpus(folder: Path, n: int = 24, pages: int = 60) -> Path:
    text = " ".join(
        f"Paragraph {i} explains clause {i} of the framework agreement." for i in range(40)
    )
    for d in range(n):
        make_pdf(
            folder / f"agreement-{d:02d}.pdf",
            [f"Agreement {d}, page {p}. {text}" for p in range(pages)],
        )
    return folder


def test_kill_during_ingest_leaves_no_half_document_and_resumes(
    tmp_path: Path, tomes_home: Path
) -> None:
    folder = _corpus(tmp_path / "corpus")
    command = [sys.executable, "-m", "app.cli", "ingest", str(folder), "--project", "Crash"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    db = tomes_home / "projects" / "crash" / "project.db"
    _wait_until(lambda: _count(db, "SELECT count(*) FROM documents") >= 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    project = Projects(tomes_home).get("Crash")
    with project.open() as store:
        _assert_consistent(store)
        kept = len(store.documents())
    assert 3 <= kept < 24
    done = subprocess.run(
        command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("unchanged") == kept  # finished documents are not read again
    with project.open() as store:
        _assert_consistent(store)
        assert len(store.documents()) == 24


def test_kill_during_tree_build_resumes_without_redoing_nodes(
    tmp_path: Path, tomes_home: Path
) -> None:
    folder = _corpus(tmp_path / "corpus", n=2, pages=30)
    env = _env(TOMES_FAKE_DELAY_S="0.03", TOMES_MEMORY_MODE="abstractive", TOMES_MEMORY_FANOUT="3")
    subprocess.run(
        [sys.executable, "-m", "app.cli", "ingest", str(folder), "--project", "Tree"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    command = [sys.executable, "-m", "app.cli", "index", "--project", "Tree", "--backend", "fake"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    db = tomes_home / "projects" / "tree" / "project.db"
    _wait_until(lambda: _count(db, "SELECT count(*) FROM nodes") >= 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    settings = Settings.load(
        overrides={"model.backend": "fake", "memory.mode": "abstractive", "memory.fanout": 3}
    )
    with Projects(tomes_home).get("Tree").open() as store:
        _assert_consistent(store)
        finished = store.db.execute("SELECT count(*) FROM nodes").fetchone()[0]
        total = len(plan_tree(store, fanout=3))
        assert 3 <= finished < total
        summarizer = ModelSummarizer(settings, ModelManager(), "fake:quote-best-match")
        last = list(build_tree(store, summarizer, fanout=3))[-1]
        assert last.done == total
        assert last.built == total - finished  # nothing finished was redone


def test_kill_during_answer_keeps_earlier_chats(tmp_path: Path, tomes_home: Path) -> None:
    pdf = make_pdf(
        tmp_path / "lease.pdf", ["The monthly rent is 1,450 euros, due on the first day."]
    )
    project = Projects(tomes_home).create("Chat")
    subprocess.run(
        [sys.executable, "-m", "app.cli", "ingest", str(pdf), "--project", "Chat"],
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
    )
    with project.open() as store:
        log = ChatLog(store)
        session = log.create_session("Earlier chat")
        log.add_exchange(session.id, "What is the term?", sample_answer())
    script = textwrap.dedent(
        f"""
        from engine.settings import Settings
        from engine.workspace import Workspace
        ws = Workspace(Settings.load(overrides={{"model.backend": "fake"}}))
        project = ws.project("Chat")
        stream = ws.ask(project, "What is the monthly rent?", session_id={session.id})
        for piece in stream:
            print("TOKEN", piece, flush=True)
        ws.record(project, {session.id}, stream.result())
        print("DONE", flush=True)
        """
    )
    env = _env(TOMES_FAKE_DELAY_S="0.5")
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("TOKEN"), first
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with project.open() as store:
        assert store.integrity_ok()
        log = ChatLog(store)
        messages = log.messages(session.id)
        assert [m.role for m in messages] == ["user", "assistant"]  # no half-saved exchange
        assert log.answers(session.id) == [sample_answer()]
    # and the project still answers
    from engine.workspace import Workspace

    ws = Workspace(Settings.load(overrides={"model.backend": "fake"}))
    answer = ws.ask(project, "What is the monthly rent?", session_id=session.id).result()
    ws.record(project, session.id, answer)
    ws.close()
    with project.open() as store:
        assert len(ChatLog(store).messages(session.id)) == 4
        assert json.loads(ChatLog(store).messages(session.id)[-1].answer_json or "{}")["citations"]
