"""Answers on a generated multi-document project with the real embedded model (issue 11): a
question that names one document cites only that document; a per-document question gives one
cited line per document, "not stated" where a document lacks the clause; an absent fact is an
honest miss; nothing from a prompt example leaks into an answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fixtures import make_pdf

pytestmark = pytest.mark.model

FILLER = " ".join(
    f"Clause {i}. The parties shall cooperate in good faith and keep records of their work."
    for i in range(12)
)
CONTRACTS = {
    "gamma-supply-agreement.pdf": [
        "GAMMA SUPPLY AGREEMENT. This Supply Agreement is made as of March 3, 2019 by and "
        "between Gamma Metals Ltd. and Orion Tools Inc. " + FILLER,
        "12. Non-Competition. During the term, Orion Tools shall not manufacture or sell "
        "products that compete with the products of Gamma Metals in Europe. " + FILLER,
        "15. Governing Law. This Agreement is governed by the laws of England and Wales. " + FILLER,
    ],
    "delta-license-agreement.pdf": [
        "DELTA LICENSE AGREEMENT. This License Agreement is made as of June 1, 2020 (the "
        '"Effective Date") by and between Delta Software Corp. and Vega Retail LLC. ' + FILLER,
        "7. Fees. Vega Retail shall pay a license fee of 4,800 dollars per year. " + FILLER,
        "11. Governing Law. This Agreement is governed by the laws of the State of New York. "
        + FILLER
        + " 14. Term. The term of this Agreement shall commence on the Effective Date and "
        "continue for a period of three (3) years.",
    ],
}


def tomes(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture
def project(real_model_env: Path, tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    paths = [str(make_pdf(tmp_path / name, pages)) for name, pages in CONTRACTS.items()]
    done = tomes("ingest", *paths, "--project", "Deals", env=env)
    assert done.returncode == 0, done.stderr
    return env


def ask(env: dict[str, str], question: str, *extra: str) -> dict:
    done = tomes("ask", question, "--project", "Deals", "--json", *extra, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_question_that_names_a_document_cites_only_it(project: dict[str, str]) -> None:
    answer = ask(project, "Which law governs the Gamma supply agreement?")
    assert answer["state"] == "found", answer
    assert "england" in answer["answer"].lower()
    assert {c["document"] for c in answer["citations"]} == {"gamma-supply-agreement.pdf"}
    assert all(c["verified"] for c in answer["citations"])
    assert answer["citations"][0]["page"] == 3
    assert any("Answered from gamma-supply-agreement.pdf" in n for n in answer["notices"])
    # the same question scoped by --document to the other contract gives the other law
    other = ask(project, "Which law governs this agreement?", "--document", "delta")
    assert "new york" in other["answer"].lower()
    assert {c["document"] for c in other["citations"]} == {"delta-license-agreement.pdf"}


def test_a_per_document_question_gives_one_cited_line_each(project: dict[str, str]) -> None:
    answer = ask(project, "Which agreements have a non-compete clause?")
    parts = {d["document"]: d for d in answer["documents"]}
    assert set(parts) == set(CONTRACTS)
    gamma, delta = parts["gamma-supply-agreement.pdf"], parts["delta-license-agreement.pdf"]
    assert gamma["state"] == "found", gamma
    assert gamma["citations"] and gamma["citations"][0]["page"] == 2
    assert delta["state"] == "not_found", delta
    assert delta["citations"] == [] and "not stated" in delta["answer"]
    for part in answer["documents"]:
        assert all(c["document"] == part["document"] for c in part["citations"])


def test_an_expiry_is_counted_and_the_parties_come_from_the_preamble(
    project: dict[str, str],
) -> None:
    answer = ask(project, "When does the initial term of the Delta license agreement expire?")
    assert answer["state"] == "found", answer
    # three years from the Effective Date, June 1, 2020, both cited, on their pages
    assert answer["answer"].startswith("June 1, 2023"), answer["answer"]
    pages = {(c["document"], c["page"]) for c in answer["citations"]}
    assert pages == {("delta-license-agreement.pdf", 1), ("delta-license-agreement.pdf", 3)}
    assert all(c["verified"] for c in answer["citations"])
    parties = ask(project, "Who are the parties to the Gamma supply agreement?")
    assert parties["answer"].startswith("Gamma Metals Ltd.; Orion Tools Inc."), parties
    assert {c["page"] for c in parties["citations"]} == {1}


def test_an_absent_fact_is_an_honest_miss_without_leaks(project: dict[str, str]) -> None:
    answer = ask(project, "What is the warranty period for the software?", "--document", "delta")
    assert answer["state"] in ("not_found", "unclear"), answer
    assert answer["answer"].startswith(("Not found", "Tomes could not verify"))
    assert not any(c["verified"] for c in answer["citations"])
    # nothing of an example (or any figure not in the documents) is stated
    assert "100 euros" not in answer["answer"] and "euros" not in answer["answer"]
