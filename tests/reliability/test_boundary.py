"""The server is a boundary: the real `tomes serve` app (uvicorn, Gradio mounted behind
`app.security.Boundary`) probed over real HTTP on 127.0.0.1.

Every route class refuses a request without the launch token; a foreign Host is refused
(DNS rebinding); a cross-origin write is refused even with a valid cookie; a hidden event
handler called by `fn_index` is refused; password sign-in is throttled; exports are served
only to the session that made them; TLS works with a real certificate."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.security import (
    Credentials,
    LoginThrottle,
    hash_password,
    load_credentials,
    parse_users,
    serve_credentials,
)
from app.server import Server
from engine.errors import SettingsError
from engine.settings import Settings
from engine.workspace import Workspace

FAKE = {"model.backend": "fake", "retrieval.embeddings": False}
PASSWORD = "correct horse battery staple"


@pytest.fixture
def server(serve: Any) -> Server:
    """The app with one project, on the fake backend."""
    workspace = Workspace(Settings.load(overrides=FAKE))
    workspace.project("Acme", create=True)
    return serve(workspace)  # type: ignore[no-any-return]


def _fn_index(server: Server, api_name: str) -> int:
    """The fn_index of a hidden (private) event handler, as a page's JS would send it."""
    for index, fn in server.app.fns.items():
        if fn.api_name == api_name:
            return int(index)
    raise AssertionError(f"no handler {api_name}")


def _route_classes(server: Server) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx kwargs): one request of each kind of route the app serves."""
    delete = _fn_index(server, "delete_project")
    export = server.workspace.settings.home / "exports" / "x" / "report.md"
    return [
        ("GET", "/", {}),  # the page
        ("GET", "/config", {}),  # the app's layout and endpoints
        ("GET", "/theme.css", {}),
        ("GET", "/gradio_api/info", {}),  # API description
        ("POST", "/gradio_api/call/ask", {"json": {"data": ["Acme", "fee?", None]}}),
        ("POST", "/gradio_api/run/create_project", {"json": {"data": ["X"]}}),
        (
            "POST",
            "/gradio_api/queue/join",
            {"json": {"fn_index": delete, "data": ["Acme"], "session_hash": "probe"}},
        ),
        ("GET", "/gradio_api/queue/data?session_hash=probe", {}),
        ("POST", "/gradio_api/upload", {"files": {"files": ("a.txt", b"hello")}}),
        ("GET", f"/gradio_api/file={export}", {}),
        ("POST", "/gradio_api/cancel", {"json": {"session_hash": "p", "fn_index": 0}}),
        ("GET", "/gradio_api/heartbeat/probe", {}),
        ("GET", "/gradio_api/upload_progress?upload_id=x", {}),
    ]


def test_no_token_is_refused_on_every_route_class(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as bare:
        for method, path, kwargs in _route_classes(server):
            response = bare.request(method, path, **kwargs)
            assert response.status_code in (401, 403), (method, path, response.status_code)
            assert "token" in response.text.lower() or "sign" in response.text.lower()
    # a browser asking for the page is told what to do
    page = httpx.get(server.base_url, headers={"Accept": "text/html"})
    assert page.status_code == 401 and "?token=" in page.text
    # nothing was deleted by the hidden handler
    assert [p.name for p in server.workspace.projects.list()] == ["Acme"]


def test_a_wrong_token_is_refused(server: Server) -> None:
    response = httpx.get(server.base_url + "config", headers={"X-Tomes-Token": "guess"})
    assert response.status_code == 401
    response = httpx.get(server.base_url + "config?token=" + server.token[:-1] + "x")
    assert response.status_code == 401


def test_the_token_opens_every_route_class(server: Server) -> None:
    """The same requests with the token get past the boundary (so the refusals above are
    the boundary's): none is 401, and the foreign session's file stays 403."""
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=30) as client:
        for method, path, kwargs in _route_classes(server):
            if path.startswith("/gradio_api/queue/join"):
                continue  # would delete the project: see the nonce test
            if path.startswith(("/gradio_api/queue/data", "/gradio_api/heartbeat")):
                continue  # event streams: they stay open
            response = client.request(method, path, **kwargs)
            assert response.status_code != 401, (method, path, response.text[:200])


def test_the_token_url_signs_a_browser_in_with_a_strict_cookie(server: Server) -> None:
    with httpx.Client(timeout=30) as browser:
        redirect = browser.get(server.url)
        assert redirect.status_code == 303
        assert redirect.headers["location"] == "/"  # the token leaves the address bar
        cookie = redirect.headers["set-cookie"]
        assert cookie.startswith(f"tomes-session-{server.base_url.rsplit(':', 1)[1][:-1]}=")
        for attribute in ("HttpOnly", "SameSite=Strict", "Path=/"):
            assert attribute in cookie
        assert server.token not in cookie  # the cookie is a session id, not the token
        page = browser.get(server.base_url)
        assert page.status_code == 200 and "gradio" in page.text.lower()
        assert page.headers["x-frame-options"] == "DENY"  # no clickjacking
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"
        assert browser.get(server.base_url + "config").status_code == 200
        # signing out ends the session
        browser.get(server.base_url + "logout")
        browser.cookies.clear()
        assert browser.get(server.base_url + "config").status_code == 401


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:7860", "127.0.0.1.evil.example", "192.0.2.1"]
)
def test_a_foreign_host_is_refused_even_with_the_token(server: Server, host: str) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: refused."""
    response = httpx.get(server.base_url + "config", headers={**server.headers, "Host": host})
    assert response.status_code == 403
    assert "not this server's name" in response.text


def test_loopback_names_are_accepted(server: Server) -> None:
    port = server.base_url.rsplit(":", 1)[1].rstrip("/")
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
        response = httpx.get(server.base_url + "config", headers={**server.headers, "Host": host})
        assert response.status_code == 200, host


def test_a_cross_origin_upload_is_refused_even_signed_in(server: Server) -> None:
    """Another origin on this machine (another port is another origin, but the same site,
    so SameSite does not stop its cookie) cannot upload, nor call an event."""
    port = server.base_url.rsplit(":", 1)[1].rstrip("/")
    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        browser.get(server.url)  # signed in: the cookie is in the jar
        files = {"files": ("evil.txt", b"planted")}
        for origin in (
            "http://127.0.0.1:9",
            "http://evil.example",
            "null",
            f"https://127.0.0.1:{port}",
        ):
            refused = browser.post("/gradio_api/upload", files=files, headers={"Origin": origin})
            assert refused.status_code == 403, origin
        refused = browser.post(
            "/gradio_api/upload", files=files, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert refused.status_code == 403
        same = browser.post(
            "/gradio_api/upload", files=files, headers={"Origin": f"http://127.0.0.1:{port}"}
        )
        assert same.status_code == 200, same.text
        join = browser.post(
            "/gradio_api/queue/join",
            json={"fn_index": _fn_index(server, "delete_project"), "data": ["Acme"]},
            headers={"Origin": "http://127.0.0.1:9"},
        )
        assert join.status_code == 403
    assert [p.name for p in server.workspace.projects.list()] == ["Acme"]


def test_exports_are_served_only_to_the_session_that_made_them(server: Server) -> None:
    from app.security import Identity

    exports = server.workspace.settings.home / "exports"
    with httpx.Client(base_url=server.base_url, timeout=30) as alice:
        alice.get(server.url)
        sid = alice.cookies[f"tomes-session-{server.base_url.rsplit(':', 1)[1][:-1]}"]
        mine = exports / Identity(user="local", session=sid).export_key / "report.md"
        mine.parent.mkdir(parents=True)
        mine.write_text("# Alice's report\n")
        theirs = exports / "0123456789abcdef01234567" / "report.md"
        theirs.parent.mkdir(parents=True)
        theirs.write_text("# Someone else's report\n")
        assert alice.get(f"/gradio_api/file={mine}").text == "# Alice's report\n"
        refused = alice.get(f"/gradio_api/file={theirs}")
        assert refused.status_code == 403 and "another session" in refused.text
        # ../ tricks resolve before the check
        sneaky = f"{mine.parent}/../{theirs.parent.name}/report.md"
        assert alice.get(f"/gradio_api/file={sneaky}").status_code == 403
    with httpx.Client(base_url=server.base_url, timeout=30) as bob:
        bob.get(server.url)
        assert bob.get(f"/gradio_api/file={mine}").status_code == 403


# ---------------------------------------------------------------------------- exposed mode
def test_password_rules_and_sources(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="at least 12 characters"):
        parse_users("anna: ", where="TOMES_AUTH")
    with pytest.raises(SettingsError, match="at least 12 characters"):
        load_credentials(environ={"TOMES_AUTH": "anna:short"})
    with pytest.raises(SettingsError, match="NAME:PASSWORD"):
        load_credentials(environ={"TOMES_AUTH": "no-colon-here-at-all"})
    assert load_credentials(environ={}) is None
    creds = load_credentials(environ={"TOMES_AUTH": f"anna:{PASSWORD}"})
    assert creds is not None and creds.check("anna", PASSWORD) and not creds.check("anna", "x")
    assert PASSWORD not in repr(creds)  # only the scrypt hash is kept
    # a users file with several named users, one hashed
    users = tmp_path / "users"
    users.write_text(
        f"# Tomes users\nanna:{PASSWORD}\nben:{hash_password('another long passphrase')}\n"
    )
    users.chmod(0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        load_credentials(environ={}, auth_file=users)
    users.chmod(0o600)
    creds = load_credentials(environ={}, auth_file=users)
    assert creds is not None and set(creds.users) == {"anna", "ben"}
    assert creds.check("ben", "another long passphrase") and not creds.check("carl", PASSWORD)
    with pytest.raises(SettingsError, match="use one of them"):
        load_credentials(environ={"TOMES_AUTH": f"anna:{PASSWORD}"}, auth_file=users)
    # a password on the command line is refused, pointing at the safe ways
    with pytest.raises(SettingsError, match=r"TOMES_AUTH=NAME:PASSWORD.*--auth-file"):
        serve_credentials(f"anna:{PASSWORD}", None)


def test_tomes_serve_refuses_auth_on_the_command_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from app.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--auth", f"anna:{PASSWORD}", "--no-browser"])
    assert result.exit_code == 1
    assert "visible" in result.output or "can read it" in result.output
    assert "TOMES_AUTH" in result.output and "Traceback" not in result.output
    hashed = CliRunner().invoke(cli, ["hash-password", "anna"], input=PASSWORD + "\n")
    assert hashed.exit_code == 0, hashed.output
    line = hashed.output.strip()
    assert line.startswith("anna:scrypt$") and PASSWORD not in line
    assert parse_users(line, where="f").check("anna", PASSWORD)


@pytest.fixture
def exposed(serve: Any) -> Server:
    """The app bound to every address, with two named users."""
    users = Credentials(
        {"anna": hash_password(PASSWORD), "ben": hash_password("ben's long passphrase")},
        source="test",
    )
    workspace = Workspace(Settings.load(overrides=FAKE))
    return serve(workspace, host="0.0.0.0", credentials=users)  # type: ignore[no-any-return]


def test_exposed_mode_signs_users_in_and_throttles_guessing(exposed: Server) -> None:
    base = exposed.base_url
    page = httpx.get(base, headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert "Password" in httpx.get(base + "login").text
    foreign = httpx.get(base + "login", headers={"Host": "evil.example"})
    assert foreign.status_code == 403
    # 100 wrong passwords as fast as possible: only the first few are even checked
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=30) as guesser:
        codes = [
            guesser.post(
                "/login", data={"username": "anna", "password": f"guess{i:04d}"}
            ).status_code
            for i in range(100)
        ]
        assert codes.count(401) == 5 and codes.count(429) == 95, codes
        locked = guesser.post("/login", data={"username": "anna", "password": PASSWORD})
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    print(f"100 guesses answered in {time.perf_counter() - started:.2f} s, 5 checked")
    # the lock expires (here: lifted, as if its time had passed); then the right one works
    _boundary_config(exposed).throttle.succeeded("addr:127.0.0.1", "user:anna")
    with httpx.Client(base_url=base, timeout=30) as anna:
        ok = anna.post("/login", data={"username": "anna", "password": PASSWORD, "next": "/"})
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        assert "HttpOnly" in ok.headers["set-cookie"]
        assert anna.get("/config").status_code == 200
    # the token still signs in the person at the server's own console
    assert httpx.get(base + "config", headers=exposed.headers).status_code == 200


def _boundary_config(server: Server) -> Any:
    probe = server._loop
    assert probe is not None
    app = probe.app
    stack = app.middleware_stack or app.build_middleware_stack()
    while stack is not None:
        if type(stack).__name__ == "Boundary":
            return stack.config
        stack = getattr(stack, "app", None)
    raise AssertionError("no Boundary in the middleware stack")


def test_login_throttle_unlocks_after_the_lockout_and_doubles() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=3, window_s=60, lockout_s=10, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("a") == 0
        throttle.failed("a")
    assert throttle.retry_after("a") == 10
    now[0] = 10.5
    assert throttle.retry_after("a") == 0
    for _ in range(3):
        throttle.failed("a")
    assert throttle.retry_after("a") == 20  # the second lock is twice as long
    throttle.succeeded("a")
    assert throttle.retry_after("a") == 0


@pytest.fixture
def certificate(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make a test certificate: apt-get install openssl")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    yield cert, key


def test_tls_serves_https_with_secure_cookies(serve: Any, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    workspace = Workspace(Settings.load(overrides=FAKE))
    server = serve(workspace, certfile=cert, keyfile=key)
    assert server.url.startswith("https://127.0.0.1:")
    with httpx.Client(verify=str(cert), timeout=30) as browser:
        redirect = browser.get(server.url)
        assert "Secure" in redirect.headers["set-cookie"]
        assert browser.get(server.base_url + "config").status_code == 200
        same = browser.post(
            server.base_url + "gradio_api/upload",
            files={"files": ("a.txt", b"x")},
            headers={"Origin": server.base_url.rstrip("/")},
        )
        assert same.status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.base_url.replace("https", "http") + "config", timeout=5)


def test_tls_needs_both_files(serve: Any, tmp_path: Path) -> None:
    workspace = Workspace(Settings.load(overrides=FAKE))
    with pytest.raises(SettingsError, match="both --certfile and --keyfile"):
        serve(workspace, certfile=tmp_path / "c.pem")
    workspace.close()


# ---------------------------------------------------------------------------- phase 2
def _join_and_read(
    client: httpx.Client, fn_index: int, data: list[Any], *, session: str = "probe-session"
) -> str:
    """Call an event handler the way the page's JS does (queue/join, then its event
    stream); returns the stream's text once the event completes."""
    joined = client.post(
        "/gradio_api/queue/join",
        json={"fn_index": fn_index, "data": data, "session_hash": session, "trigger_id": None},
    )
    assert joined.status_code == 200, joined.text
    text = ""
    with client.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as stream:
        for line in stream.iter_lines():
            text += line + "\n"
            if '"process_completed"' in line:
                break
    return text


def test_a_destructive_action_without_its_nonce_is_refused(server: Server) -> None:
    """Signed in (token), the delete handler called by fn_index deletes nothing without the
    nonce its confirmation question issued. The nonce lives in the page session's server-side
    state (a gr.State): it never reaches the browser, and a value sent in its place is
    ignored; a confirmation asked in one page session does not confirm in another."""
    delete = _fn_index(server, "delete_project")
    confirm = _fn_index(server, "confirm_delete_project")
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
        for nonce in (None, "forged-nonce"):
            stream = _join_and_read(client, delete, ["Acme", nonce], session="attacker")
            assert "needs confirming" in stream, stream
            assert [p.name for p in server.workspace.projects.list()] == ["Acme"]
        question = _join_and_read(client, confirm, ["Acme", None], session="user-tab")
        assert "cannot be undone" in question
        assert "confirm" not in _join_and_read(client, delete, ["Acme", None], session="user-tab")
    assert server.workspace.projects.list() == []


def test_a_folder_outside_the_allowed_roots_is_refused_with_a_message(
    server: Server, tmp_path: Path
) -> None:
    """Over HTTP, signed in: /etc and ~/.ssh cannot be added by path; the message says
    why and how to allow it."""
    ssh = tmp_path / ".ssh"  # tmp_path is the test's home folder (tests/conftest.py)
    ssh.mkdir()
    (ssh / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    link = tmp_path / "innocent"
    link.symlink_to(ssh)  # a symlink does not get around it: resolved first
    add = _fn_index(server, "add_sources")
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
        for folder, why in (
            ("/etc", "outside your home folder"),
            (str(ssh), "hidden folder '.ssh'"),
            (str(link), "hidden folder '.ssh'"),
        ):
            stream = _join_and_read(client, add, ["Acme", [], folder])
            assert why in stream and "--allow-folder" in stream, stream
    project = server.workspace.project("Acme")
    assert server.workspace.documents(project) == []


def test_files_under_tomes_home_are_private(server: Server, tmp_path: Path) -> None:
    """After an upload, an answer, an export and the keyword index, every folder under
    TOMES_HOME is 0700 and every file 0600 (databases and their WAL/SHM, backups, kept
    uploads, exports, keyword-index files)."""
    from gradio_client import Client, handle_file

    from tests.support.fixtures import make_pdf

    home = server.workspace.settings.home
    pdf = make_pdf(tmp_path / "in" / "lease.pdf", ["The rent is 900 euros.", "Term: 2 years."])
    client = Client(server.base_url, headers=server.headers, verbose=False)
    client.predict("Acme", [handle_file(str(pdf))], api_name="/add_files")
    answer = client.predict("Acme", "What is the rent?", api_name="/ask")
    project = server.workspace.project("Acme")
    list(server.workspace.build_keywords(project))
    server.workspace.export_report(
        project, home / "exports" / "x" / "r.md", fmt="md", message_ids=[answer["message_id"]]
    )
    store = project.open()  # kept open, so its -wal and -shm files exist during the scan
    store._backup("test")  # what a migration takes first
    store.set_meta("probe", "x")
    kinds = {"db": 0, "wal": 0, "backup": 0, "upload": 0, "export": 0, "lexical": 0}
    cache = home / "cache" / "uploads"
    for path in home.rglob("*"):
        mode = path.stat().st_mode & 0o777
        if path.is_relative_to(cache) and path != cache:
            continue  # Gradio's own upload cache: inside a 0700 folder (and umask 077 in `tomes`)
        if path.is_dir():
            assert mode == 0o700, (path, oct(mode))
            continue
        assert mode == 0o600, (path, oct(mode))
        name = path.name
        kinds["db"] += name == "project.db"
        kinds["wal"] += name.endswith(("-wal", "-shm"))
        kinds["backup"] += "backups" in path.parts
        kinds["upload"] += path.parent.name == "files"
        kinds["export"] += "exports" in path.parts
        kinds["lexical"] += "lexical" in str(path.parent)
    store.close()
    assert all(kinds.values()), kinds
    assert (home.stat().st_mode & 0o777) == 0o700
