"""The answers benchmark's scoring (bench/answers.py): one reading of every system's answers.

Logic only (no model, no shared data): how an answer's option, F1, state, citations and code
lines are scored, and that the code QA gold lines point at real statements of the installed
package.
"""

from __future__ import annotations

import importlib.metadata as im
import importlib.util
import json
from pathlib import Path

import pytest

from bench.answers import CODEQA, Item, _record, pick_option, score_code, token_f1

OPTIONS = ["a red car", "Deirdre has fallen in love with Blake", "the moon", "nothing at all"]


@pytest.mark.parametrize(
    ("answer", "picked"),
    [
        ("(B) because she loves him", 1),
        ("The answer is C.", 2),
        ("D.", 3),
        ("Option a, since the car is red", 0),
        ("Deirdre has fallen in love with Blake.", 1),  # the option's words, no letter
        ("A man walks in.", None),  # an article is not a letter
    ],
)
def test_pick_option(answer: str, picked: int | None) -> None:
    assert pick_option(answer, OPTIONS) == picked


def test_token_f1_is_squad_normalized() -> None:
    assert token_f1("The Term is five (5) years.", "term is five 5 years") == 1.0
    assert token_f1("", "anything") == 0.0
    assert 0 < token_f1("five years", "an initial period of five (5) years") < 1


def _raw(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"answer": "", "citations": [], "ttft": 1.0, "total": 2.0}
    return base | kw


def test_states_read_alike_for_every_system() -> None:
    item = Item("cuad", "x", "a.pdf", "q?")
    absent = "I could not find this in the documents."
    assert _record("old", item, _raw(answer=absent, supported=True)).state == "not_found"
    assert _record("old", item, _raw(answer="Yes [c1].", supported=False)).state == "unclear"
    assert _record("peer", item, _raw(answer="Not stated in the context.")).state == "not_found"
    assert _record("peer", item, _raw(answer="New York law.")).state == "found"
    new = _record("new", item, _raw(answer="60 days [e1].", state="found", removed=["x"]))
    assert new.state == "found" and new.self_unsupported


def test_cross_document_citations_are_counted() -> None:
    item = Item("cuad", "x", "a.pdf", "q?")
    cites = [{"doc_id": "A", "document": "a.pdf"}, {"doc_id": "B", "document": "b.pdf"}]
    rec = _record("old", item, _raw(answer="x", supported=True, citations=cites, target_doc_id="A"))
    assert rec.cross_doc == 1
    peer = _record("peer", item, _raw(answer="x", citations=cites))
    assert peer.cross_doc == 1


def test_code_citation_must_hold_the_gold_line() -> None:
    gold = {"file": "pkg/util.py", "line": 40, "facts": ["keyerror"]}
    item = Item("code", "q", "*", "?", gold=gold)
    inside = {"document": "pkg/util.py", "line_start": 30, "line_end": 45}
    elsewhere = {"path": "/x/pkg/util.py", "line_start": 41, "line_end": 60}
    rec = _record("peer", item, _raw(answer="It raises KeyError.", citations=[elsewhere, inside]))
    score_code([rec], {"q": item})
    assert rec.correct and rec.cited_gold and (rec.cites_hit, rec.cites_scored) == (1, 2)


def test_codeqa_gold_lines_are_statements_of_the_installed_package() -> None:
    rows = [json.loads(x) for x in CODEQA.read_text(encoding="utf-8").splitlines() if x.strip()]
    meta, questions = rows[0], rows[1:]
    if im.version(meta["package"]) != meta["version"]:
        pytest.skip(f"{meta['package']} {meta['version']} is not the installed version")
    spec = importlib.util.find_spec(meta["module"])
    assert spec is not None and spec.origin is not None
    root = Path(spec.origin).parent.parent
    assert len(questions) >= 20
    for q in questions:
        line = (root / q["file"]).read_text(encoding="utf-8").splitlines()[q["line"] - 1]
        assert line.strip() and not line.strip().startswith("#"), q["id"]


def test_cuad_values_without_a_normalized_answer_are_not_scored() -> None:
    from bench.cuad_gold import Gold, score_value

    blank = Gold("Expiration Date", present=True, answer="")
    assert blank.unscored  # a clause was marked, its value left blank: neither right nor wrong
    assert Gold("Renewal Term", present=True, answer="[* * *] years").unscored
    absent = Gold("Renewal Term", present=False, answer="")
    assert not absent.unscored
    assert score_value("Renewal Term", "Not found: the contract does not state this.", absent, {})
    assert not score_value("Renewal Term", "two (2) years", absent, {})
