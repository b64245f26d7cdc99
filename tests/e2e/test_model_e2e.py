"""End to end with the real embedded model through llama.cpp (and through an OpenAI-compatible
server): a crashing llama.cpp build, a broken model file or a regression in prompting or
citation checking fails here. Kept few and small (n_ctx 4096) for CI on 2 cores."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fixtures import make_pdf

pytestmark = pytest.mark.model

FILLER = " ".join(
    f"Article {i}. The parties shall cooperate in good faith on all matters of the project."
    for i in range(30)
)
PAGES = [
    "Escrow Agreement. This agreement concerns the Halvorsen transaction. " + FILLER,
    "Section 4. The escrow agent for the Halvorsen transaction is Brightwater Trust Company "
    "of Oslo. The escrow fee is 2,300 euros per year. " + FILLER,
    "Section 9. Signatures of the parties. " + FILLER,
]
QUESTION = "Who is the escrow agent for the Halvorsen transaction?"


def tomes(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture
def env(real_model_env: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def test_real_inference_runs(real_model_env: Path) -> None:
    """One real generation: a build that segfaults on this CPU (AMX) cannot pass CI."""
    from engine.llm.backends import ChatMessage, GenerationParams, complete
    from engine.llm.backends.llama import LlamaCppBackend

    backend = LlamaCppBackend(real_model_env, n_ctx=1024)
    try:
        out = complete(
            backend,
            [ChatMessage("user", "What is the capital of France? Answer with one word.")],
            GenerationParams(max_tokens=8, temperature=0.0),
        )
    finally:
        backend.close()
    assert "paris" in out.text.lower()
    assert out.prompt_tokens > 5 and out.completion_tokens >= 1


def test_cli_answers_with_a_citation_on_the_right_page(tmp_path: Path, env: dict[str, str]) -> None:
    pdf = make_pdf(tmp_path / "escrow.pdf", PAGES)
    done = tomes("ingest", str(pdf), "--project", "Escrow", env=env)
    assert done.returncode == 0, done.stderr
    done = tomes("ask", QUESTION, "--project", "Escrow", "--json", env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert "brightwater" in answer["answer"].lower()
    assert answer["supported"]
    pages = {c["page"] for c in answer["citations"] if c["verified"]}
    assert 2 in pages, answer["citations"]
    assert answer["timings"]["first_token_s"] > 0
    assert answer["usage"]["prompt_tokens"] > 100


def test_streaming_prints_answer_then_citations(tmp_path: Path, env: dict[str, str]) -> None:
    pdf = make_pdf(tmp_path / "escrow.pdf", PAGES)
    tomes("ingest", str(pdf), "--project", "Escrow", env=env)
    done = tomes("ask", "What is the yearly escrow fee?", "--project", "Escrow", env=env)
    assert done.returncode == 0, done.stderr
    assert "2,300" in done.stdout
    assert "escrow.pdf p. 2" in done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def llama_server(real_model_env: Path, tmp_path: Path) -> Iterator[str]:
    """llama-cpp-python's own OpenAI-compatible server on loopback."""
    port = _free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(real_model_env),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
        "--interrupt_requests", "false",  # several requests at once must each finish
    ]  # fmt: skip
    log = tmp_path / "server.log"
    # The server prints its whole chat template at start: send it to a file, since an
    # undrained pipe would fill up and block the server.
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(20)


def test_openai_backend_against_a_real_local_server(
    tmp_path: Path, env: dict[str, str], llama_server: str
) -> None:
    pdf = make_pdf(tmp_path / "escrow.pdf", PAGES)
    tomes("ingest", str(pdf), "--project", "Escrow", env=env)
    args = ["ask", QUESTION, "--project", "Escrow", "--json"]
    done = tomes(*args, "--backend", "openai", "--base-url", llama_server, env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert "brightwater" in answer["answer"].lower()
    assert answer["model"].startswith("openai:")
    assert 2 in {c["page"] for c in answer["citations"] if c["verified"]}
