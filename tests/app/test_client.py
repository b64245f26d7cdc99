"""The app as a server: its public API through gradio_client, the queue's concurrency groups,
binding rules and a clean shutdown."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file

from app.prefs import UiPrefs
from app.security import Credentials, hash_password
from app.server import Server, build_app, launch
from app.ui import MODEL_GROUP
from engine.errors import ProjectNotFound, SettingsError
from engine.settings import Settings
from engine.workspace import Workspace
from tests.app.conftest import FAKE, FEE_QUESTION


def _client(server: Server, **kwargs: Any) -> Client:
    """An API client that authenticates with the launch token (in a header)."""
    kwargs.setdefault("headers", server.headers)
    return Client(server.base_url, verbose=False, download_files=False, **kwargs)


def test_public_api_is_deliberate_and_asking_is_one_at_a_time(fake_workspace: Workspace) -> None:
    demo = build_app(fake_workspace)
    public = {f.api_name for f in demo.fns.values() if f.api_visibility == "public"}
    assert public == {"create_project", "add_files", "ask", "open_citation"}
    model_bound = [f for f in demo.fns.values() if f.concurrency_id == MODEL_GROUP]
    assert {f.name for f in model_bound} == {"ask", "api_ask"}
    assert all(f.concurrency_limit == 1 for f in model_bound)
    # everything else (the timer, the viewer, notes…) runs beside a running answer
    others = [f for f in demo.fns.values() if f.fn is not None and f not in model_bound]
    assert others and all(f.concurrency_id != MODEL_GROUP for f in others)


def test_public_hosts_need_a_password() -> None:
    with pytest.raises(SettingsError, match="TOMES_AUTH=NAME:PASSWORD"):
        launch(project=None, host="0.0.0.0", port=0, open_browser=False)


def test_serve_opens_the_named_project_and_refuses_unknown_ones(
    fake_workspace: Workspace, serve: Any, tomes_home: Path
) -> None:
    with pytest.raises(ProjectNotFound, match="no project named 'Nope'"):
        launch(project="Nope", host="127.0.0.1", port=0, open_browser=False)
    for name in ("Alpha", "Beta"):
        fake_workspace.project(name, create=True)
    serve(Workspace(Settings.load(overrides=FAKE)), project="Alpha")
    assert UiPrefs(tomes_home).last_project() == "Alpha"  # the page opens it first


@pytest.mark.model
def test_upload_ask_and_open_citation_through_the_api(
    real_model_env: Path, contract_pdf: Path, serve: Any
) -> None:
    """The real embedded model (n_ctx 4096) answers through the launched app."""
    server = serve(Workspace(Settings.load(overrides={"retrieval.embeddings": False})))
    assert server.url.startswith("http://127.0.0.1:")
    client = _client(server)
    assert client.predict("Acme", api_name="/create_project") == "Acme"
    events = client.predict("Acme", [handle_file(str(contract_pdf))], api_name="/add_files")
    assert [(e["name"], e["status"], e["pages"]) for e in events] == [("contract.pdf", "added", 3)]
    answer = client.predict("Acme", FEE_QUESTION, api_name="/ask")
    assert "7,350" in answer["answer"]
    cites = answer["citations"]
    assert cites and any(c["page"] == 2 and c["verified"] for c in cites), answer
    index = next(i for i, c in enumerate(cites) if c["page"] == 2)
    view = client.predict("Acme", answer["message_id"], index, api_name="/open_citation")
    assert view["page"] == 2 and view["title"] == "contract.pdf · p. 2"
    assert view["marked"] and view["marked"][0] in view["text"]
    assert view["has_image"] is True


def test_two_clients_asking_at_once_are_both_answered(contract_pdf: Path, serve: Any) -> None:
    workspace = Workspace(Settings.load(overrides=FAKE))
    server = serve(workspace)
    first, second = _client(server), _client(server)
    first.predict("Acme", api_name="/create_project")
    first.predict("Acme", [handle_file(str(contract_pdf))], api_name="/add_files")
    jobs = [c.submit("Acme", FEE_QUESTION, api_name="/ask") for c in (first, second)]
    answers = [job.result(timeout=120) for job in jobs]
    assert all(a["citations"][0]["page"] == 2 for a in answers)
    assert answers[0]["session_id"] != answers[1]["session_id"]


def test_an_api_error_is_a_message(serve: Any) -> None:
    server = serve(Workspace(Settings.load(overrides=FAKE)))
    client = _client(server)
    with pytest.raises(Exception, match="No project named 'Nope'") as info:
        client.predict("Nope", FEE_QUESTION, api_name="/ask")
    assert "Traceback" not in str(info.value)


def test_password_protection_and_clean_shutdown(tomes_home: Path) -> None:
    closed = threading.Event()

    class Tracked(Workspace):
        def close(self) -> None:
            super().close()
            closed.set()

    users = Credentials({"anna": hash_password("a long passphrase")}, source="test")
    server = launch(
        project=None, host="127.0.0.1", port=0, credentials=users, open_browser=False,
        workspace=Tracked(Settings.load(overrides=FAKE)), block=False,
    )  # fmt: skip
    assert server is not None
    try:
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do
            _client(server, headers={})
        with pytest.raises(Exception):  # noqa: B017
            _client(server, headers={}, auth=("anna", "a wrong passphrase"))
        client = _client(server, headers={}, auth=("anna", "a long passphrase"))
        assert client.predict("Acme", api_name="/create_project") == "Acme"
    finally:
        server.close()
    assert closed.is_set()
    server.close()  # twice is fine
