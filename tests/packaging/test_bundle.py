"""The built desktop app, end to end: start dist/tomes/tomes headless, ingest a PDF through the
public API, get a cited answer from the real embedded model, stop it with SIGTERM.

Slow (the build takes about a minute on 2 cores, the first answer assembles the 490 MB model),
so it only runs when asked: `pytest -m packaging` (builds the bundle first), or with
TOMES_BUNDLE=dist/tomes (tests that bundle, no build) or TOMES_BUILD_BUNDLE=1 in the
environment. scripts/ci_packaging.sh decides when CI asks.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.packaging.test_launcher import ServerProcess, assert_port_free
from tests.support.fixtures import make_pdf

ROOT = Path(__file__).resolve().parents[2]
# Read at import: the autouse `tomes_home` fixture removes every TOMES_* variable per test.
BUNDLE_ENV = os.environ.get("TOMES_BUNDLE", "")
BUILD_ENV = os.environ.get("TOMES_BUILD_BUNDLE", "") == "1"

PAGES = [
    "HARBOUR LEASE\n\n1. Parties\nThis lease is made between Blue Gull Holdings (the Landlord)\n"
    "and Fenwick Rowing Club (the Tenant).\n\n2. Premises\nThe boathouse at Pier 9.",
    "3. Rent\nThe Tenant pays an annual rent of 4,815 pounds, due each year on 1 March.\n\n"
    "4. Repairs\nThe Landlord repairs the roof; the Tenant repairs the slipway.",
    "5. Term\nThe lease runs for ten years.\n\n6. Law\nThis lease is governed by the laws of "
    "Ireland.",
]
QUESTION = "What is the annual rent the Tenant pays?"
FACT = "4,815"

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(1800)]


def _build_script() -> Any:
    """packaging/build.py as a module (the folder is not a package: it would shadow the
    `packaging` library)."""
    spec = importlib.util.spec_from_file_location("tomes_build", ROOT / "packaging" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _selected_by_mark_expression(config: pytest.Config) -> bool:
    """True when `-m` names `packaging` positively (not `-m "not packaging"`)."""
    tokens = re.findall(r"[()]|[\w.]+", config.getoption("markexpr", "") or "")
    return any(
        t == "packaging" and (i == 0 or tokens[i - 1] != "not") for i, t in enumerate(tokens)
    )


@pytest.fixture(scope="module")
def bundle(request: pytest.FixtureRequest) -> Path:
    """The bundle to test: TOMES_BUNDLE, or a fresh build (incremental) of dist/tomes."""
    if BUNDLE_ENV:
        path = Path(BUNDLE_ENV).resolve()
        if not path.is_dir():
            pytest.fail(f"TOMES_BUNDLE={BUNDLE_ENV} is not a folder")
        return path
    if not (BUILD_ENV or _selected_by_mark_expression(request.config)):
        pytest.skip(
            "builds the desktop bundle (minutes): run `pytest -m packaging`, or set "
            "TOMES_BUNDLE=dist/tomes to test a built one"
        )
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py")], cwd=ROOT, check=True)
    print(f"bundle built in {time.perf_counter() - started:.0f} s")
    path = ROOT / "dist" / "tomes"
    assert _build_script().bundle_problems(path) == []
    return path


@pytest.fixture
def app(bundle: Path, tomes_home: Path) -> Iterator[ServerProcess]:
    """The built executable, headless, on a free port, with an empty TOMES_HOME."""
    env = {
        **os.environ,
        "TOMES_HOME": str(tomes_home),
        # As the real-model tests do: a small context keeps the answer fast on 2 cores.
        "TOMES_MODEL_N_CTX": "4096",
        "TOMES_RETRIEVAL_BUDGET": "1500",
        "TOMES_MODEL_MAX_ANSWER_TOKENS": "160",
    }
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "PYTHONPATH", "PYTHONHOME"):
        env.pop(var, None)
    server = ServerProcess.start(
        [str(_build_script().executable(bundle)), "--no-browser", "--port", "0"], env
    )
    try:
        yield server
    finally:
        server.kill()


def test_the_built_app_answers_with_a_citation_and_stops_cleanly(
    app: ServerProcess, tmp_path: Path, tomes_home: Path
) -> None:
    from gradio_client import Client, handle_file

    print(f"first start: {app.startup_s:.1f} s to serve")
    pdf = make_pdf(tmp_path / "inbox" / "lease.pdf", PAGES)
    client = Client(app.base_url, verbose=False, download_files=False, headers=app.headers)
    assert client.predict("Harbour", api_name="/create_project") == "Harbour"
    events = client.predict("Harbour", [handle_file(str(pdf))], api_name="/add_files")
    assert [(e["name"], e["status"], e["pages"]) for e in events] == [("lease.pdf", "added", 3)]

    started = time.perf_counter()
    answer = client.predict("Harbour", QUESTION, api_name="/ask")
    print(f"first answer (model assembled and loaded): {time.perf_counter() - started:.1f} s")
    assert FACT in answer["answer"], answer
    cites = answer["citations"]
    assert any(c["page"] == 2 and c["verified"] for c in cites), answer
    index = next(i for i, c in enumerate(cites) if c["page"] == 2 and c["verified"])
    view = client.predict("Harbour", answer["message_id"], index, api_name="/open_citation")
    assert view["page"] == 2 and view["has_image"] is True  # pypdfium2 renders inside the bundle

    # The embedded model was assembled from the bundled parts into this TOMES_HOME.
    assert list((tomes_home / "models").glob("*.gguf"))
    # Background indexing embedded the passages with ONNX Runtime's int8 MiniLM (the default
    # embedder: onnxruntime and onnx are in the bundle; no torch).
    assert _wait_for_vectors(tomes_home, "Harbour", timeout=120) > 0, app.output()
    assert {m.split("+")[0] for m in _vector_models(tomes_home, "Harbour")} == {
        "all-MiniLM-L6-v2-int8"
    }, app.output()

    app.process.send_signal(signal.SIGTERM)
    assert app.process.wait(timeout=60) == 0, app.output()
    assert_port_free(app.port)
    out = app.output()
    assert "Tomes stopped." in out
    assert "Traceback" not in out, out


def test_the_built_app_reads_a_scanned_image(
    app: ServerProcess, tmp_path: Path, tomes_home: Path
) -> None:
    """OCR inside the bundle: tesserocr's libraries and the English model came along, and
    the background job reads a scanned page so that its text can be found."""
    from gradio_client import Client, handle_file

    from engine.store import ocr as ocr_store
    from engine.store.projects import Projects
    from tests.support.scans import text_page

    scan = tmp_path / "inbox" / "scan.png"
    scan.parent.mkdir(parents=True, exist_ok=True)
    text_page(["The harbour lease ends in March 2031."], dpi=120).save(scan)
    client = Client(app.base_url, verbose=False, download_files=False, headers=app.headers)
    assert client.predict("Scans", api_name="/create_project") == "Scans"
    events = client.predict("Scans", [handle_file(str(scan))], api_name="/add_files")
    assert [(e["name"], e["status"]) for e in events] == [("scan.png", "added")]
    project = Projects(tomes_home).get("Scans")
    deadline = time.monotonic() + 120
    while True:
        with project.open() as store:
            if not ocr_store.count_pending(store):
                hits = store.search("harbour lease March 2031")
                break
        assert time.monotonic() < deadline, app.output()
        time.sleep(0.5)
    assert hits and hits[0][0].document == "scan.png" and hits[0][0].locator.page == 1, hits


def _wait_for_vectors(home: Path, project: str, *, timeout: float) -> int:
    """How many embeddings the app has stored for `project`, once there are any."""
    from engine.store.projects import Projects

    deadline = time.monotonic() + timeout
    proj = Projects(home).get(project)
    while True:
        with proj.open() as store:
            n = int(store.db.execute("SELECT count(*) FROM embeddings").fetchone()[0])
        if n or time.monotonic() > deadline:
            return n
        time.sleep(1)


def _vector_models(home: Path, project: str) -> set[str]:
    from engine.store.projects import Projects

    with Projects(home).get(project).open() as store:
        return {r[0] for r in store.db.execute("SELECT DISTINCT model FROM embeddings")}


def test_the_whole_ui_path_in_a_browser(app: ServerProcess, tmp_path: Path) -> None:
    """The app tests' browser path (upload, streamed answer, source viewer, pinned note, Word
    export) against the bundle: the frontend files left out of it must not be missed."""
    from tests.app.conftest import CONTRACT_PAGES
    from tests.app.test_browser import CHROMIUM, _ask_cite_view_pin_export, browser_page

    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (scripts/test.sh installs Debian's)")
    pdf = make_pdf(tmp_path / "inbox" / "contract.pdf", CONTRACT_PAGES)
    with browser_page() as (page, outside):
        _ask_cite_view_pin_export(page, app.url, pdf, tmp_path, None)
    assert outside == [], f"requests left this machine: {outside}"
    app.process.send_signal(signal.SIGTERM)
    assert app.process.wait(timeout=60) == 0, app.output()
    assert "Traceback" not in app.output()


def test_port_probe_sees_the_bundle_listening(app: ServerProcess) -> None:
    """What a desktop shortcut relies on: the port printed is the port served."""
    with socket.create_connection(("127.0.0.1", app.port), timeout=5):
        pass
    app.process.send_signal(signal.SIGINT)
    assert app.process.wait(timeout=60) == 0, app.output()
    assert_port_free(app.port)
