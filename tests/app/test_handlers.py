"""The app's handlers without a browser: real projects on disk, the fake backend answering."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import docx
import pytest
from PIL import Image

from app.handlers import Handlers, user_message
from app.prefs import UiPrefs
from app.views import chips_html, file_table_html, source_html
from engine.errors import ProjectNotFound
from engine.review.viewer import SourceView
from engine.settings import Settings
from engine.store.chats import ChatLog
from engine.types import Citation
from engine.workspace import Workspace
from ingest.types import Locator
from tests.app.conftest import FAKE, FEE_QUESTION, run
from tests.support.app import chip
from tests.support.fixtures import make_corrupt_pdf, make_repo

SKIP = {"__type__": "update"}


def _is_skip(value: Any) -> bool:
    return value == SKIP


def _new_project(h: Handlers, name: str = "Acme") -> None:
    h.create_project(name)


def _ingest(h: Handlers, project: str, *files: Path) -> list[Any]:
    return run(h.add_sources(project, [str(f) for f in files], ""))


def _ask(h: Handlers, project: str, question: str, session: int | None = None) -> list[Any]:
    return run(h.ask(project, session, question, [], []))


@pytest.fixture
def ready(handlers: Handlers, contract_pdf: Path) -> Handlers:
    """A project "Acme" holding the contract, indexed."""
    _new_project(handlers)
    _ingest(handlers, "Acme", contract_pdf)
    handlers.ws.indexer.wait(handlers.ws.project("Acme"), timeout=60)
    return handlers


# ---------------------------------------------------------------------------------- projects
def test_create_rename_delete_project(handlers: Handlers, tomes_home: Path) -> None:
    dropdown, welcome, main, tabs, tools, name_box, form = handlers.create_project(
        "  Acme  contracts "
    )
    assert dropdown["value"] == "Acme contracts" and "Acme contracts" in dropdown["choices"]
    assert welcome["visible"] is False and main["visible"] is True and tools["visible"] is True
    assert tabs["selected"] == "docs"  # a new project starts where documents are added
    assert name_box == "" and form["visible"] is False
    assert UiPrefs(tomes_home).last_project() == "Acme contracts"

    dropdown, *_, form = handlers.rename_project("Acme contracts", "Acme 2024")
    assert dropdown["value"] == "Acme 2024" and dropdown["choices"] == ["Acme 2024"]
    assert UiPrefs(tomes_home).last_project() == "Acme 2024"

    shown, question, nonce = handlers.confirm_delete_project("Acme 2024")
    assert shown["visible"] is True and "cannot be undone" in question
    with pytest.warns(UserWarning, match="confirm"):  # no nonce: nothing happens
        handlers.delete_project("Acme 2024")
    with pytest.warns(UserWarning, match="confirm"):
        handlers.delete_project("Acme 2024", "forged")
    dropdown, welcome, main, _, tools, row = handlers.delete_project("Acme 2024", nonce)
    assert dropdown["choices"] == [] and dropdown["value"] is None
    assert welcome["visible"] is True and main["visible"] is False and row["visible"] is False
    assert tools["visible"] is False  # nothing to rename or delete
    assert handlers.ws.projects.list() == []
    assert UiPrefs(tomes_home).last_project() is None


def test_last_opened_project_reopens_on_start(fake_workspace: Workspace) -> None:
    first = Handlers(fake_workspace)
    first.create_project("Alpha")
    first.create_project("Beta")
    first.switch_project("Alpha")
    dropdown, _welcome, main, *_ = Handlers(fake_workspace).start()  # a restart
    assert dropdown["value"] == "Alpha" and main["visible"] is True


def test_first_run_shows_welcome_and_sample_project(handlers: Handlers) -> None:
    dropdown, welcome, main, *_ = handlers.start()
    assert dropdown["value"] is None and welcome["visible"] is True and main["visible"] is False
    assert handlers.has_sample, "assets/sample/services-agreement.pdf is missing"
    dropdown, welcome, main, tabs, _ = handlers.create_sample_project()
    assert dropdown["value"] == "Sample agreement" and tabs["selected"] == "ask"
    with handlers.ws.project("Sample agreement").open() as store:
        docs = store.documents()
    assert [(d.name, d.n_pages) for d in docs] == [("services-agreement.pdf", 3)]


def test_ui_prefs_are_written_atomically_and_survive_garbage(tomes_home: Path) -> None:
    prefs = UiPrefs(tomes_home)
    assert prefs.last_project() is None
    prefs.remember("Acme")
    assert json.loads((tomes_home / "ui.json").read_text()) == {"last_project": "Acme"}
    assert not list(tomes_home.glob(".ui.*"))  # no temporary file left behind
    (tomes_home / "ui.json").write_text("{not json")
    assert prefs.last_project() is None


def test_engine_errors_become_warnings_not_tracebacks(handlers: Handlers) -> None:
    handlers.create_project("Acme")
    with pytest.warns(UserWarning, match="already exists") as record:
        outputs = handlers.create_project("acme")
    assert all(_is_skip(o) for o in outputs)  # nothing on screen changes
    assert "Traceback" not in str(record[0].message)
    with pytest.warns(UserWarning, match="needs a name"):
        handlers.create_project("   ")
    with pytest.warns(UserWarning, match="No project named 'Gone'"):
        handlers.switch_project("Gone")
    with pytest.warns(UserWarning, match="Open or create a project first"):
        handlers.new_session(None)


def test_unexpected_errors_are_logged_and_shown_briefly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="app.handlers"):
        message = user_message(KeyError("boom"))
    assert message.startswith("Something went wrong: 'boom'")
    assert "Traceback" not in message
    assert "unexpected error" in caplog.text and "KeyError" in caplog.text
    assert user_message(ProjectNotFound("no project named 'x'")) == "No project named 'x'"


# ---------------------------------------------------------------------------------- ingest
def test_ingest_streams_status_and_a_corrupt_file_fails_alone(
    handlers: Handlers, contract_pdf: Path, tmp_path: Path
) -> None:
    _new_project(handlers)
    corrupt = make_corrupt_pdf(tmp_path / "inbox" / "scan-broken.pdf")
    steps = _ingest(handlers, "Acme", contract_pdf, corrupt)
    tables = [s[0] for s in steps]
    assert "Queued" in tables[0]
    assert any("Reading…" in t for t in tables)  # the table updates while it works
    final_table, summary, upload, folder = steps[-1]
    assert "contract.pdf" in final_table and "3 pages" in final_table
    row = next(r for r in final_table.split("<tr>") if "scan-broken.pdf" in r)
    assert "Failed" in row and "damaged" in row  # the reason, next to the file's name
    assert "Failed" not in next(r for r in final_table.split("<tr>") if "contract.pdf" in r)
    assert summary.startswith("✓ Done: 1 added, 1 failed")
    assert upload is None and folder == ""  # inputs cleared for the next batch
    assert "files" in steps[1][1] and "▰" in steps[-2][1]  # a progress line
    project = handlers.ws.project("Acme")
    assert (project.folder / "files" / "contract.pdf").is_file()  # kept for the viewer
    rows, *_ = handlers.load_documents("Acme")
    assert [r[0] for r in rows] == ["contract.pdf"]


def test_ingest_a_folder_and_refuse_a_relative_path(handlers: Handlers, tmp_path: Path) -> None:
    _new_project(handlers)
    repo = make_repo(tmp_path / "repo")
    table, summary, *_ = run(handlers.add_sources("Acme", [], str(repo)))[-1]
    assert "repo/src/app.py" in table and "Skipped" in table
    assert "added" in summary
    with pytest.warns(UserWarning, match="full path"):
        run(handlers.add_sources("Acme", [], "repo"))
    with pytest.warns(UserWarning, match="Choose files"):
        run(handlers.add_sources("Acme", None, "  "))


def test_documents_tree_and_remove(ready: Handlers) -> None:
    rows, remove, starts, _text, _children, path = ready.load_documents("Acme")
    assert rows[0][:4] == ["contract.pdf", "PDF", 3, rows[0][3]]
    assert remove["choices"][0][0] == "contract.pdf"
    assert starts["choices"], "the summary tree should have a root by now"
    node_text, _kids, path = ready.open_tree("Acme", starts["choices"][0][1])
    assert "contract.pdf" in node_text and path == [starts["choices"][0][1]]
    doc_id = remove["choices"][0][1]
    shown, question, nonce = ready.confirm_remove_document("Acme", doc_id)
    assert shown["visible"] and "contract.pdf" in question
    with pytest.warns(UserWarning, match="confirm"):
        ready.remove_document("Acme", doc_id)
    rows, *_, row = ready.remove_document("Acme", doc_id, nonce)
    assert rows == [] and row["visible"] is False


# ---------------------------------------------------------------------------------- ask
def test_ask_streams_text_then_shows_citation_chips(ready: Handlers) -> None:
    steps = _ask(ready, "Acme", FEE_QUESTION)
    # before the first word: the passages being read, and the time spent
    assert "Reading" in steps[1][5] or "Reading" in steps[1][6]
    partial = [s[0][-1]["content"] for s in steps[1:-1] if isinstance(s[0], list)]
    assert len(partial) >= 2 and partial[0] != partial[-1]  # streamed piece by piece
    chat, _, sessions, msg_ids, answer_id, chips, status = steps[-1]
    assert status.startswith("Answered in")
    assert chat[0] == {"role": "user", "content": FEE_QUESTION}
    assert "7,350 euros" in chat[1]["content"]
    assert "contract.pdf p. 2" in chips and 'data-cite="0"' in chips
    assert "tomes-chip verified" in chips
    assert answer_id == msg_ids[-1] and sessions["value"] is not None
    assert sessions["choices"][0][0] == FEE_QUESTION  # the first question names the chat

    # the chat survives a restart: reloading shows the same messages and sources
    _dropdown, messages, ids, selected, chips_again, _docs = Handlers(ready.ws).load_chat("Acme")
    assert messages == chat and ids == msg_ids and selected == answer_id
    assert chips_again == chips


def test_follow_up_stays_in_the_session(ready: Handlers) -> None:
    *_, first = _ask(ready, "Acme", FEE_QUESTION)
    session = first[2]["value"]
    chat, _, sessions, _msg_ids, _, _, _ = run(
        ready.ask("Acme", session, "When is late payment interest due?", first[0], first[3])
    )[-1]
    assert sessions["value"] == session and len(chat) == 4
    with ready.ws.project("Acme").open() as store:
        answers = ChatLog(store).answers(session)
    assert [a.question for a in answers] == [FEE_QUESTION, "When is late payment interest due?"]
    assert answers[1].followup  # the engine reused the first turn's context


def test_ask_without_question_or_with_a_broken_model_says_why(
    ready: Handlers, tmp_path: Path
) -> None:
    with pytest.warns(UserWarning, match="Type a question"):
        assert all(_is_skip(o) for o in run(ready.ask("Acme", None, "  ", [], []))[0])
    project = ready.ws.project("Acme")
    ready.ws.save_project_settings(
        project, {"model.backend": "llama.cpp", "model.path": str(tmp_path / "gone.gguf")}
    )
    with pytest.warns(UserWarning, match="does not exist"):
        chat, question, *_ = _ask(ready, "Acme", FEE_QUESTION)[-1]
    assert chat[-1]["content"].startswith("⚠ Model file") and "Traceback" not in chat[-1]["content"]
    assert question == FEE_QUESTION  # kept, to try again


class _BrokenWorkspace(Workspace):
    def ask(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")


def test_unexpected_error_while_asking_is_a_short_message(
    tomes_home: Path, contract_pdf: Path
) -> None:
    workspace = _BrokenWorkspace(Settings.load(overrides=FAKE))
    try:
        h = Handlers(workspace)
        _new_project(h)
        with pytest.warns(UserWarning, match="Something went wrong: disk on fire"):
            chat = _ask(h, "Acme", FEE_QUESTION)[-1][0]
        assert chat[-1]["content"].startswith("⚠ Something went wrong: disk on fire")
    finally:
        workspace.close()


def test_sessions_new_rename_switch_delete(ready: Handlers) -> None:
    *_, first = _ask(ready, "Acme", FEE_QUESTION)
    dropdown, chat, _ids, answer, _chips, _docs = ready.new_session("Acme")
    fresh = dropdown["value"]
    assert chat == [] and answer is None and len(dropdown["choices"]) == 2
    dropdown, form = ready.rename_session("Acme", fresh, "Termination")
    assert ("Termination", fresh) in dropdown["choices"] and form["visible"] is False
    dropdown, chat, *_ = ready.load_chat("Acme", first[2]["value"])  # switch back
    assert chat[0]["content"] == FEE_QUESTION
    with pytest.warns(UserWarning, match="confirm"):
        ready.delete_session("Acme", fresh)
    *_, nonce = ready.confirm_delete_session("Acme", fresh)
    *_, row = ready.delete_session("Acme", fresh, nonce)
    assert row["visible"] is False
    assert [c[0] for c in ready.load_chat("Acme")[0]["choices"]] == [FEE_QUESTION]


# ---------------------------------------------------------------------------------- viewer
def test_citation_opens_the_page_with_the_quote_marked(ready: Handlers) -> None:
    answer_id = _ask(ready, "Acme", FEE_QUESTION)[-1][4]
    state, head, image, text, prev, nxt = ready.open_citation("Acme", answer_id, chip(0))
    assert "Page 2 of 3" in head and "contract.pdf" in head
    assert "<mark>" in text and "7,350 euros" in text.split("<mark>", 1)[1]
    assert image["visible"] is True and isinstance(image["value"], Image.Image)
    assert prev["interactive"] is True and nxt["interactive"] is True
    state, head, *_ = ready.next_page("Acme", state)
    assert "Page 3 of 3" in head and state["page"] == 3
    *_, nxt = ready.next_page("Acme", state)
    assert nxt["interactive"] is False  # the last page
    with pytest.warns(UserWarning, match="no source number 9"):
        ready.open_citation("Acme", answer_id, chip(8))


def test_chips_mark_unverified_citations() -> None:
    loc = Locator(doc_id="d", page=4)
    cites = [
        Citation("c1", "d:0", "a.pdf", loc, quote="it is so", verified=True, doc_id="d"),
        Citation("c2", "d:1", "b.py", Locator(line_start=40, line_end=88), verified=False),
    ]
    html = chips_html(cites)
    assert 'class="tomes-chip verified" data-cite="0"' in html and "a.pdf p. 4" in html
    assert 'class="tomes-chip unverified" data-cite="1"' in html
    assert 'title="could not be matched to the source"' in html and "b.py L40-88" in html
    assert "<script" not in chips_html([Citation("c1", "x", "<script>.pdf", loc)])


def test_code_view_numbers_lines_and_marks_the_cited_ones() -> None:
    text = "def a():\n    return 1\n\ndef b():\n    return 2\n"
    view = SourceView("src/db.py", "code", "src/db.py · L41-42", text, ((22, 40),), first_line=40)
    html = source_html(view)
    assert '<span class="ln">40</span>' in html and '<span class="ln">44</span>' in html
    assert html.count('class="hit"') == 2 and "<mark>def b():</mark>" in html
    assert "&lt;b&gt;" in source_html(SourceView("x", "text", "x", "<b>", ()))


def test_file_table_escapes_names() -> None:
    html = file_table_html([("<img>.pdf", "failed", "is damaged")])
    assert "&lt;img&gt;.pdf" in html and "Failed" in html and "is damaged" in html


# ---------------------------------------------------------------------------------- notes
def test_pin_edit_and_delete_a_note(ready: Handlers) -> None:
    answer_id = _ask(ready, "Acme", FEE_QUESTION)[-1][4]
    notes, title, text, chips, export_notes, export_answers = ready.pin_answer("Acme", answer_id)
    note_id = notes["value"]
    assert title == FEE_QUESTION and "7,350 euros" in text
    assert "contract.pdf p. 2" in chips and export_notes["value"] == [note_id]
    assert export_answers["choices"] == [(FEE_QUESTION, answer_id)]
    notes, title, text, *_ = ready.save_note("Acme", note_id, "Fee", "Fee is 7,350 euros [c1]")
    assert (title, text) == ("Fee", "Fee is 7,350 euros [c1]")
    assert notes["choices"] == [("Fee", note_id)]
    with pytest.warns(UserWarning, match="confirm"):
        ready.delete_note("Acme", note_id)
    shown, question, nonce = ready.confirm_delete_note("Acme", note_id)
    assert shown["visible"] and "Fee" in question
    with pytest.warns(UserWarning, match="confirm"):  # single use, per target
        ready.delete_note("Acme", note_id + 1, nonce)
    *_, nonce = ready.confirm_delete_note("Acme", note_id)
    notes, title, *_ = ready.delete_note("Acme", note_id, nonce)
    assert notes["choices"] == [] and title == ""
    with pytest.warns(UserWarning, match="no answer to pin"):
        ready.pin_answer("Acme", None)


def test_export_docx_and_markdown_with_citations(ready: Handlers) -> None:
    answer_id = _ask(ready, "Acme", FEE_QUESTION)[-1][4]
    notes = ready.pin_answer("Acme", answer_id)[0]
    download, message = ready.export_report("Acme", [notes["value"]], [], "docx")
    path = Path(download["value"])
    assert path.suffix == ".docx" and download["visible"] is True and "Word" in message
    body = "\n".join(p.text for p in docx.Document(str(path)).paragraphs)
    assert "contract.pdf p. 2" in body and FEE_QUESTION in body
    download, _ = ready.export_report("Acme", [], [answer_id], "md")
    markdown = Path(download["value"]).read_text(encoding="utf-8")
    assert "contract.pdf p. 2" in markdown and markdown.startswith("# Acme: report")
    with pytest.warns(UserWarning, match="Nothing to export"):
        ready.export_report("Acme", [], [], "docx")


# ---------------------------------------------------------------------------------- settings
def test_settings_are_validated_and_saved_per_project(ready: Handlers) -> None:
    values = ready.load_settings("Acme")
    assert values[0] == "fake" and values[4] == 2048 and values[-1] == ""
    *_, message = ready.save_settings("Acme", "fake", "", "", "", 4000.0, 0.0, 2048.0)
    assert message.startswith("⚠ Not saved: retrieval.budget (4000)")
    assert "do not fit model.n_ctx" in message
    *_, message = ready.save_settings("Acme", "openai", "", "", "", 2048.0, 0.0, 8192.0)
    assert "needs a server URL" in message
    saved = ready.save_settings("Acme", "fake", "", "", "", 1024.0, 2.0, 4096.0)
    assert saved[-1].startswith("✓ Saved") and saved[4] == 1024 and saved[6] == 4096
    project = ready.ws.project("Acme")
    assert ready.ws.settings_for(project).retrieval.budget == 1024
    *_, message = ready.save_settings("Acme", "llama.cpp", "/nowhere/m.gguf", "", "", 1024, 0, 4096)
    assert "there is no file at /nowhere/m.gguf" in message
    *_, message = ready.reset_settings("Acme")
    assert ready.ws.settings_for(project).retrieval.budget == 2048 and "default" in message


# ---------------------------------------------------------------------------------- status
def test_status_line_reports_background_indexing(ready: Handlers) -> None:
    line = ready.status_line("Acme")
    assert line.startswith("1 document · ") and "summary tree ready" in line
    text, seen, starts = ready.poll_status("Acme", None)
    assert text == line and seen is not None
    assert starts["choices"][0][0] == "contract.pdf"  # the tree's dropdown follows indexing
    assert _is_skip(ready.poll_status("Acme", seen)[0])  # nothing changed: no update
    assert ready.status_line(None) == ""


def test_the_chat_remembers_its_documents(ready: Handlers) -> None:
    doc_id = ready.ws.documents(ready.ws.project("Acme"))[0].id
    dropdown, line = ready.set_sources("Acme", None, [doc_id])
    session = dropdown["value"]
    assert session is not None and "1 chosen document" in line
    *_, docs = ready.load_chat("Acme", session)
    assert docs["value"] == [doc_id] and docs["choices"][0][1] == doc_id
    # a question in this chat is answered within its documents
    _ask(ready, "Acme", FEE_QUESTION, session)
    with ready.ws.project("Acme").open() as store:
        answer = ChatLog(store).answers(session)[-1]
    assert answer.scope == (doc_id,)
    _, line = ready.set_sources("Acme", session, [])
    assert "every document" in line


def test_an_honest_miss_shows_the_closest_passages(ready: Handlers) -> None:
    *_, last = _ask(ready, "Acme", "What is the warranty period for the delivered goods?")
    chat, _, _, _, _, chips, _ = last
    assert chat[-1]["content"].startswith(("Not found", "Tomes could not verify"))
    assert "tomes-chip closest" in chips or "tomes-chips-empty" in chips
    assert "tomes-chip verified" not in chips
