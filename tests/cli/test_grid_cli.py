"""`tomes grid` (issue 13): the JSON contract, --preset / --document / --out, reuse of computed
cells on the next run, exit 1 when a cell failed, and kill -9 mid-grid losing no finished
cell. Real store, readers and tokenizer; answers from the fake backend."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from tests.support.contracts import QUESTIONS, write_contracts

ROOT = Path(__file__).resolve().parents[2]
LAW, NONCOMPETE, NOTICE = QUESTIONS
FLAGS = ("--backend", "fake")
CITATION_KEYS = [
    "key",
    "document",
    "page",
    "page_end",
    "line_start",
    "line_end",
    "quote",
    "verified",
]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TOMES_RETRIEVAL_EMBEDDINGS", "0")
    monkeypatch.setenv("TOMES_INGEST_CHUNK_TOKENS", "64")
    monkeypatch.setenv("TOMES_INGEST_OVERLAP_TOKENS", "0")
    paths = write_contracts(tmp_path / "inbox")
    code, _, err = run("ingest", *map(str, paths), "--project", "Supply")
    assert code == 0, err
    return "Supply"


def test_grid_json_has_the_documented_shape(project: str) -> None:
    code, out, err = run(
        "grid", "--project", project, "--question", LAW, "--question", NONCOMPETE, "--json",
        *FLAGS,
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["columns"] == [LAW, NONCOMPETE]
    assert [r["document"] for r in data["rows"]] == ["alpha.pdf", "beta.pdf", "gamma.pdf"]
    alpha = data["rows"][0]["cells"]
    assert [c["question"] for c in alpha] == [LAW, NONCOMPETE]
    law = alpha[0]
    assert law["state"] == "found" and law["answer"] == "Scotland [e1]."
    assert list(law["citations"][0]) == CITATION_KEYS
    assert law["citations"][0]["page"] == 2 and law["citations"][0]["verified"] is True
    assert "Scotland" in law["citations"][0]["quote"]
    gamma_nc = data["rows"][2]["cells"][1]
    assert gamma_nc["state"] == "not_found" and gamma_nc["citations"] == []
    assert set(data["timings"]) >= {"total_s", "computed", "reused", "cells_per_min"}
    assert data["timings"]["computed"] == 6
    assert set(data["usage"]) == {"prompt_tokens", "completion_tokens"}
    # the same command again computes nothing
    code, out, err = run(
        "grid", "--project", project, "--question", LAW, "--question", NONCOMPETE, "--json",
        *FLAGS,
    )  # fmt: skip
    assert json.loads(out)["timings"]["computed"] == 0
    assert "0 cells computed, 6 reused, 0 failed" in err


def test_grid_with_a_preset_chosen_documents_and_an_xlsx(project: str, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    target = tmp_path / "review.xlsx"
    code, out, err = run(
        "grid", "--project", project, "--preset", "contract review", "--question", LAW,
        "--document", "beta", "--out", str(target), *FLAGS,
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("beta.pdf\n")
    assert "Governing law: State of New York [e1].  (p. 2)" in out
    # the preset asks LAW already: one column for it
    assert "1 documents x 41 questions" in err and f"Wrote the grid to {target}" in err
    sheet = load_workbook(target)["Grid"]
    assert sheet.max_row == 2 and sheet.max_column == 42
    assert sheet["A2"].value == "beta.pdf"


def test_grid_errors_are_one_line(project: str, tmp_path: Path) -> None:
    code, _, err = run("grid", "--project", project, *FLAGS)
    assert code == 1 and "give questions with --question" in err
    code, _, err = run("grid", "--project", project, "--preset", "Leases", *FLAGS)
    assert code == 1 and "no question preset called 'Leases'" in err
    code, _, err = run("grid", "--project", project, "-q", LAW, "-d", "delta", *FLAGS)
    assert code == 1 and "no document matches 'delta'" in err
    code, _, err = run("grid", "--project", project, "-q", LAW, "--out", "x.pdf", *FLAGS)
    assert code == 2 and "write .xlsx, .csv, .docx or .md" in err
    assert "Traceback" not in err


def test_a_failed_cell_is_reported_and_exits_1(project: str) -> None:
    huge = "Does it say " + "anything about penalties " * 4000 + "?"
    code, out, err = run("grid", "--project", project, "-q", huge, "-q", LAW, "--json", *FLAGS)
    assert code == 1
    data = json.loads(out)
    failed = [c for r in data["rows"] for c in r["cells"] if c["state"] == "failed"]
    assert len(failed) == 3 and all("shorten it" in c["error"] for c in failed)
    done = [c for r in data["rows"] for c in r["cells"] if c["question"] == LAW]
    assert all(c["state"] == "found" for c in done)  # the rest complete
    assert "3 failed" in err


def _cells(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM grid_cells").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_kill_9_mid_grid_loses_no_finished_cell(project: str, tomes_home: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TOMES_MODEL_BACKEND": "fake",
        "TOMES_FAKE_DELAY_S": "0.05",  # slow enough to kill mid-grid
    }
    args = [sys.executable, "-m", "app.cli", "grid", "--project", project,
            "-q", LAW, "-q", NONCOMPETE, "-q", NOTICE, "-q", "Who is the supplier?"]  # fmt: skip
    db = next((tomes_home / "projects").glob("*/project.db"))
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while _cells(db) < 3:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "no cell was written in time"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    kept = _cells(db)
    assert 3 <= kept < 12
    code, out, err = run(
        "grid", "--project", project, "-q", LAW, "-q", NONCOMPETE, "-q", NOTICE,
        "-q", "Who is the supplier?", "--json", *FLAGS,
    )  # fmt: skip
    assert code == 0, err
    timings = json.loads(out)["timings"]
    assert timings["reused"] == kept and timings["computed"] == 12 - kept
