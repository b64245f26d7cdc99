"""Citation keys: only minted keys survive; quotes must be found in the cited source."""

from __future__ import annotations

from engine.qa.citations import KEY_RE, find_quote, resolve_citations
from engine.types import ContextItem
from ingest.types import Locator


def item(key: str, text: str, page: int = 1, level: int = 0) -> ContextItem:
    return ContextItem(
        key=key,
        chunk_id=f"doc:{key}",
        document="contract.pdf",
        locator=Locator(doc_id="d", page=page),
        text=text,
        n_tokens=len(text.split()),
        level=level,
        doc_id="d",
    )


ITEMS = [
    item("c1", "This Agreement shall be governed by the laws of the State of Delaware.", page=7),
    item("c2", "The term of this Agreement is five (5) years from the Effective Date.", page=2),
]


def test_key_forms() -> None:
    groups = [m.group(1) for m in KEY_RE.finditer("a [c1] b [c2, c3] c [C4][5] d [x]")]
    assert groups == ["c1", "c2, c3", "C4", "5"]


def test_verified_quote_and_page() -> None:
    text, cites = resolve_citations(
        'It is governed by "the laws of the State of Delaware" [c1].', ITEMS
    )
    assert text.endswith("[c1].")
    assert len(cites) == 1
    c = cites[0]
    assert c.verified and c.locator.page == 7 and c.quote == "the laws of the State of Delaware"


def test_hallucinated_keys_are_dropped_from_text_and_citations() -> None:
    text, cites = resolve_citations("Delaware law applies [c1] [c9]. Also [c7, c2].", ITEMS)
    assert "[c9]" not in text and "c7" not in text
    assert [c.key for c in cites] == ["c1", "c2"]


def test_unfound_quote_is_unverified() -> None:
    _, cites = resolve_citations('The term is "ten years from signing" [c2].', ITEMS)
    assert len(cites) == 1 and not cites[0].verified


def test_quote_normalization_whitespace_case_typographic() -> None:
    _, cites = resolve_citations("The term is “Five  (5)\nYEARS” [c2].", ITEMS)
    assert cites[0].verified


def test_ellipsis_quote_matches_parts_in_order() -> None:
    assert find_quote("governed by … State of Delaware", ITEMS[0].text) is not None
    assert find_quote("Delaware … governed by", ITEMS[0].text) is None


def test_unquoted_claim_needs_shared_words() -> None:
    _, good = resolve_citations("The agreement is governed by Delaware laws [c1].", ITEMS)
    _, bad = resolve_citations("Payment is due monthly in euros [c1].", ITEMS)
    assert good[0].verified and not bad[0].verified


def test_bare_number_keys_map_to_minted() -> None:
    _, cites = resolve_citations('The term is "five (5) years" [2].', ITEMS)
    assert cites[0].key == "c2" and cites[0].verified


def test_quote_in_summary_is_checked_against_its_leaves() -> None:
    summary = item("c3", "Summary: the contract sets Delaware law and a five-year term.", level=1)
    leaf = item("c3", ITEMS[0].text, page=7)
    _, cites = resolve_citations(
        'It picks "the laws of the State of Delaware" [c3].',
        [*ITEMS, summary],
        leaves=lambda it: [leaf] if it.level else [],
    )
    assert cites[0].verified and cites[0].locator.page == 7
