"""What the app does with risky input, through the real handlers over a real Workspace:
uploads (same name, other content; dotfiles; failures cleaned up), a server URL that sends
text to another machine, the viewer on a file that is one huge line, and sqlite errors that
must reach the user as words."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from app.handlers import Handlers
from app.security import AllowedRoots, remote_host
from engine.errors import SettingsError, store_error
from tests.support.fixtures import make_pdf


def _run(gen: Any) -> list[Any]:
    return list(gen)


def test_two_uploads_with_one_name_are_both_kept(handlers: Handlers, tmp_path: Path) -> None:
    handlers.ws.create_project("Acme")
    first = make_pdf(tmp_path / "a" / "contract.pdf", ["The fee is 100 euros."])
    second = make_pdf(tmp_path / "b" / "contract.pdf", ["The fee is 200 euros."])
    again = make_pdf(tmp_path / "c" / "contract.pdf", ["The fee is 100 euros."])
    table, *_ = _run(handlers.add_sources("Acme", [str(first), str(second)], ""))[-1]
    project = handlers.ws.project("Acme")
    names = sorted(d.name for d in handlers.ws.documents(project))
    assert names == ["contract (2).pdf", "contract.pdf"], table
    files = sorted(p.name for p in (project.folder / "files").iterdir())
    assert files == ["contract (2).pdf", "contract.pdf"]
    # the same content under the same name is the same file again: unchanged, no third copy
    table, *_ = _run(handlers.add_sources("Acme", [str(again)], ""))[-1]
    assert "unchanged" in table.lower() or "already" in table.lower(), table
    assert len(list((project.folder / "files").iterdir())) == 2


def test_a_dotfile_in_a_batch_is_skipped_alone_and_failures_leave_nothing(
    handlers: Handlers, tmp_path: Path
) -> None:
    handlers.ws.create_project("Acme")
    env = tmp_path / "up" / ".env"
    env.parent.mkdir(parents=True)
    env.write_text("API_KEY=secret\n")
    broken = tmp_path / "up" / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really\n")
    good = make_pdf(tmp_path / "up" / "good.pdf", ["A good page."])
    table, summary, *_ = _run(handlers.add_sources("Acme", [str(env), str(broken), str(good)], ""))[
        -1
    ]
    assert ".env" in table and "starts with a dot" in table, table
    assert "error" not in summary.lower() or "null" not in summary.lower()
    project = handlers.ws.project("Acme")
    assert [d.name for d in handlers.ws.documents(project)] == ["good.pdf"]
    kept = sorted(p.name for p in (project.folder / "files").iterdir())
    assert kept == ["good.pdf"]  # the failed upload's copy was removed; .env never copied
    assert "skipped" in summary.lower() and "failed" in summary.lower(), summary


def test_a_remote_server_url_needs_the_explicit_confirmation(handlers: Handlers) -> None:
    handlers.ws.create_project("Acme")
    args = ("Acme", "openai", "", "http://10.1.2.3:8000/v1", "m", 1024.0, 0.0, 4096.0)
    *_, message = handlers.save_settings(*args)
    assert message.startswith("⚠ Not saved") and "10.1.2.3" in message and "Tick" in message
    assert handlers.ws.settings_for(handlers.ws.project("Acme")).model.base_url == ""
    *_, message = handlers.save_settings(*args, True)
    assert message.startswith("✓ Saved"), message
    assert handlers.ws.settings_for(handlers.ws.project("Acme")).model.base_url.startswith(
        "http://10.1.2.3"
    )
    # this machine's own server needs no confirmation
    local = ("Acme", "openai", "", "http://127.0.0.1:8000/v1", "m", 1024.0, 0.0, 4096.0)
    assert handlers.save_settings(*local)[-1].startswith("✓ Saved")
    assert remote_host("http://localhost:1/v1") == "" and remote_host("https://a.b/v1") == "a.b"


def test_allowed_roots(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "cases").mkdir(parents=True)
    (home / ".gnupg").mkdir()
    roots = AllowedRoots(home=home)
    assert roots.check(home / "cases") == (home / "cases").resolve()
    with pytest.raises(SettingsError, match=r"hidden folder '\.gnupg'"):
        roots.check(home / ".gnupg")
    with pytest.raises(SettingsError, match="outside your home folder"):
        roots.check(Path("/etc"))
    with pytest.raises(SettingsError, match="no file or folder"):
        roots.check(home / "nope")
    exposed = AllowedRoots.for_server(exposed=True, allow=[home / "cases"])
    assert exposed.check(home / "cases") == (home / "cases").resolve()
    with pytest.raises(SettingsError, match=r"reachable from other machines.*--allow-folder"):
        exposed.check(home)


def test_the_viewer_shows_a_window_of_a_file_that_is_one_huge_line(
    handlers: Handlers, tmp_path: Path
) -> None:
    """A 6 MB single-line file: the view (and its HTML) stays ~120 kB around the quote."""
    from app.views import source_html
    from engine.review.viewer import MAX_VIEW_CHARS
    from ingest.types import Locator

    line = ("lorem ipsum dolor sit amet " * 120_000) + "THE NEEDLE CLAUSE " + "x y z " * 400_000
    path = tmp_path / "one-line.txt"
    path.write_text(line + "\n")
    project = handlers.ws.create_project("Acme")
    events = [e for e in handlers.ws.ingest(project, [path], background_index=False)]
    doc = next(e for e in events if e.status == "added")
    view = handlers.ws.open_source(
        project, doc.doc_id, Locator(doc_id=doc.doc_id, line_start=1, line_end=1),
        quote="THE NEEDLE CLAUSE",
    )  # fmt: skip
    assert len(view.text) <= MAX_VIEW_CHARS
    (start, end), *_ = view.highlights
    assert view.text[start:end] == "THE NEEDLE CLAUSE"
    assert any("characters around the cited passage" in n for n in view.notes)
    html = source_html(view)
    assert len(html) < 4 * MAX_VIEW_CHARS, len(html)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("database is locked", "busy: another Tomes process"),
        ("database disk image is malformed", "damaged"),
        ("attempt to write a readonly database", "read-only"),
        ("database or disk is full", "disk is full"),
    ],
)
def test_sqlite_errors_become_words(raw: str, words: str) -> None:
    from app.handlers import user_message

    message = user_message(sqlite3.OperationalError(raw))
    assert words in message and "OperationalError" not in message
    assert words in str(store_error(sqlite3.OperationalError(raw)))


def test_an_export_goes_to_the_sessions_own_folder(handlers: Handlers) -> None:
    """The handler reads the caller's identity (set by the boundary) from gr.Request; the
    boundary then serves that folder to that session only (tests/reliability/
    test_boundary.py)."""
    import gradio as gr
    from starlette.requests import Request

    from app.security import Identity, identity_of
    from engine.types import Answer

    project = handlers.ws.create_project("Acme")
    with handlers.ws.chats(project) as chats:
        session = chats.create_session().id
        answer = Answer(question="Fee?", text="100 euros.", citations=(), context=())
        _, message = chats.add_exchange(session, "Fee?", answer)
        note = chats.pin_answer(message)
    identity = Identity(user="anna", session="a-session-id")
    request = Request({"type": "http", "headers": [], "state": {"tomes_identity": identity}})
    assert identity_of(gr.Request(request=request)) == identity
    download, _ = handlers.export_report("Acme", [note.id], [], "md", gr.Request(request=request))
    written = Path(download["value"])
    assert written.parent == handlers.exports_dir / identity.export_key
    assert written.stat().st_mode & 0o077 == 0
