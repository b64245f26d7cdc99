"""Which documents a question is about.

A question that names a document ("the Biopure agency agreement", "store.py", "the Zogenix
distributorship agreement", "the co-branding agreement") is answered from that document only,
so that an answer cannot quietly come from (and cite) another one. A document is named by:
- its file name: the whole base name ("store.py", "LICENSE"), or a distinctive word of it (a
  word of 4+ letters no other document's name has, which is capitalized in the question or rare
  in the corpus: "Biopure", "Zogenix");
- its title, as its opening states it ("CO-BRANDING AGREEMENT"): the whole title, two words
  or more, in the question (several documents can share a title: then all of them);
- a party named at its opening ("Skype", "Nippon Shinyaku"): a distinctive word of the party's
  name, as for file names.
Words that many documents share ("agreement", "supply", "services", "inc") never name one.

    identities = [identify(doc_id, name, kind, opening) for ...]
    match = resolve_scope(question, identities, doc_freq=lexical.doc_frequency)
    match.doc_ids      # () when the question names no document (or every document)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.qa.answer_types import AnswerType, candidate_spans

__all__ = ["DocIdentity", "ScopeMatch", "identify", "resolve_scope"]


@dataclass(frozen=True, slots=True)
class DocIdentity:
    """How a document can be named: its file name, the title and parties at its opening."""

    doc_id: str
    name: str
    title: str = ""
    parties: tuple[str, ...] = ()
    kind: str = ""  # the document kind ("pdf", "code", …)


@dataclass(frozen=True, slots=True)
class ScopeMatch:
    """The documents a question names, and why each (for the notice shown with the answer)."""

    doc_ids: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.doc_ids)


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")
_GENERIC = frozenset(
    """agreement agreements contract contracts amendment addendum exhibit schedule annex
    appendix document documents file files copy draft final version signed executed redacted
    inc incorporated corp corporation company companies llc ltd limited group holdings
    holding international global services service systems system solutions technologies
    technology products product supply supplier manufacturing manufacturer distribution
    distributor license licensing development marketing sales purchase agency master general
    terms conditions and the of for with between pdf docx txt doc md html json py
    joint venture strategic alliance collaboration sponsorship endorsement franchise
    maintenance hosting outsourcing promotion transportation intellectual property
    co branding content""".split()
)
_COMMON = frozenset(
    """what which who when where how does this that these those there their about from into
    under over with without each every other any some such than then have will shall would
    could should must also only more most least first second last next term terms party
    parties date dates law laws state states notice period price fee fees payment rights
    right clause section article page pages line lines code function class file""".split()
)


def identify(doc_id: str, name: str, kind: str = "", opening: str = "") -> DocIdentity:
    """A document's identity from its name and the text at its opening (its first passage)."""
    if kind == "code" or not opening:
        return DocIdentity(doc_id, name, kind=kind)
    titles = [opening[a:b] for a, b in candidate_spans(AnswerType.TITLE, opening[:1500])]
    title = " ".join(titles[0].split()) if titles else ""
    parties = tuple(
        dict.fromkeys(
            " ".join(opening[a:b].split()) for a, b in candidate_spans(AnswerType.PARTY, opening)
        )
    )[:6]
    return DocIdentity(doc_id, name, title, parties, kind)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _norm(text: str) -> str:
    return " ".join(_words(text))


def resolve_scope(
    question: str,
    identities: Sequence[DocIdentity],
    *,
    doc_freq: Callable[[str], int] | None = None,
) -> ScopeMatch:
    """The documents `question` names (see the module docstring). `doc_freq(word)` is how many
    documents of the corpus contain a lower-case word (None: every word counts as rare)."""
    if not identities:
        return ScopeMatch()
    q_norm = f" {_norm(question)} "
    q_words = set(_words(question))
    q_caps = {w.lower() for w in _WORD.findall(question) if w[0].isupper()}
    q_lower_text = question.lower()
    n_docs = len(identities)

    # how many documents' names (and parties) each word appears in: a word in several is no name
    name_counts: Counter[str] = Counter()
    party_counts: Counter[str] = Counter()
    for ident in identities:
        name_counts.update(set(_words(_base(ident.name))))
        party_counts.update({w for p in ident.parties for w in _words(p)})

    def distinctive(word: str, counts: Counter[str]) -> bool:
        if len(word) < 4 or word in _GENERIC or word in _COMMON or word.isdigit():
            return False
        if counts[word] > max(1, n_docs // 10):
            return False
        if word in q_caps:
            return True
        rare = doc_freq(word) if doc_freq is not None else 0
        return rare <= max(1, n_docs // 10)

    matched: dict[str, str] = {}
    for ident in identities:
        base = _base(ident.name)
        if len(base) >= 4 and re.search(
            rf"(?<![\w/.-]){re.escape(base.lower())}(?![\w-])", q_lower_text
        ):
            matched.setdefault(ident.doc_id, f"named by its file name {base}")
            continue
        stem_words = set(_words(base.rsplit(".", 1)[0]))
        hit = sorted(w for w in stem_words & q_words if distinctive(w, name_counts))
        if hit:
            matched.setdefault(ident.doc_id, f"named by '{hit[0]}' in its file name")
            continue
        title = _norm(ident.title)
        if len(title.split()) >= 2 and f" {title} " in q_norm:
            matched.setdefault(ident.doc_id, f"named by its title {ident.title}")
            continue
        for party in ident.parties:
            hit = sorted(w for w in set(_words(party)) & q_words if distinctive(w, party_counts))
            if hit:
                matched.setdefault(ident.doc_id, f"named by its party {party}")
                break
    if not matched or len(matched) == n_docs:
        return ScopeMatch()
    ids = tuple(i.doc_id for i in identities if i.doc_id in matched)
    return ScopeMatch(ids, tuple(matched[i] for i in ids))
