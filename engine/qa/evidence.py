"""Evidence-first answering, step one: find the sentences inside the retrieved passages that
answer the question, and cut a compact, keyed context from them.

    ranked = rank_sentences(question, passages, idf=lexical.idf, embed=embedder_fn)
    windows = select_evidence(ranked, budget=400, count=backend.count_tokens)

A sentence's score adds up, each part in 0..1 before its weight:
- words: the question's content words (Snowball stems) the sentence holds, weighted by their
  corpus idf, as a share of the question's (a rare word like "Oxyglobin" counts for more than
  "agreement"), plus a bonus for each pair of question words the sentence has side by side
  ("governing law");
- heading: the same share for the heading path of its passage and the sentence's own lead-in
  ("9.9 GOVERNING LAW", "1.2. Territory.");
- type: the sentence holds an answer of the kind the question asks for (a date for "when",
  a duration for "how long", a law for "which law": `engine.qa.answer_types`);
- meaning: cosine similarity with the question by the dense embedder, scaled within the
  candidates (when an embedder is loaded);
- passage: how well retrieval ranked its passage.
Long sentences hold more words by chance, so words are damped past ~60 words.

A window is a best sentence plus, as budget allows, the short lead-in before it (a heading)
and the sentence after it when the sentence ends with a colon; windows in the same passage
that touch are merged. Windows are keyed e1, e2, … best first: a small model attends most to
what comes first.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.qa.answer_types import AnswerType, answer_type, holds
from engine.qa.periods import Role, asked_role, dates_itself
from engine.qa.sentences import split_sentences
from engine.qa.term_end import states_term
from engine.types import ContextItem
from ingest.types import Locator

__all__ = [
    "Evidence",
    "ScoredSentence",
    "Weights",
    "asks_identity",
    "asks_term",
    "question_terms",
    "rank_sentences",
    "select_evidence",
]

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]
Idf = Callable[[Sequence[str]], Sequence[float]]
Count = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class Weights:
    """How the parts of a sentence's score are weighed (see the module docstring)."""

    words: float = 1.0
    pairs: float = 0.15
    heading: float = 0.35
    type: float = 0.3
    meaning: float = 0.45
    passage: float = 0.2
    opening: float = 0.6  # identity questions: the document's opening sentences


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """A sentence of a passage: `item.text[start:end]`, its index among the passage's
    sentences and its score."""

    item: ContextItem
    start: int
    end: int
    index: int
    score: float
    spans: tuple[tuple[int, int], ...] = ()  # every sentence of the passage, for neighbours
    relevance: float = 0.0  # the share of the question's idf it (or its heading) holds, 0..1
    meaning: float | None = None  # cosine with the question by the dense embedder, if run

    @property
    def text(self) -> str:
        return self.item.text[self.start : self.end]


@dataclass(frozen=True, slots=True)
class Evidence:
    """A keyed window of a passage: `item.text[start:end]`, made of `sentences` (offsets into
    `item.text`), best score first among windows."""

    key: str
    item: ContextItem
    start: int
    end: int
    sentences: tuple[tuple[int, int], ...]
    score: float
    relevance: float = 0.0  # the best relevance of its sentences (see ScoredSentence)
    meaning: float | None = None  # the best cosine of its sentences with the question
    code: bool = False  # a window of source code (shown to the model with its line breaks)
    span: Locator | None = None  # its own page or lines, when known (else its passage's)

    @property
    def text(self) -> str:
        return self.item.text[self.start : self.end]

    @property
    def doc_id(self) -> str:
        return self.item.doc_id


# The idf of a word found in ~2% of passages: a question needs about that much idf in common
# with a sentence for the sentence to count as fully on topic (less in a small project).
_IDF_FLOOR = 4.0

# --------------------------------------------------------------------------------- terms
_TERM = re.compile(r"(?u)\b\w\w+\b")
_QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how does do did is are was were can could may
    might will would shall should has have had must there any this that these those the a an
    and or of to in on for with by at from as it its be been being about under upon into
    tell me please list give show find describe explain say says said state states stated
    contract agreement document documents clause clauses provision provisions section
    include includes including contain contains containing mention mentions
    long much many often each every highlight quote related relating regarding concerning
    details""".split()
)


def _stems(words: Sequence[str]) -> list[str]:
    import Stemmer

    return list(Stemmer.Stemmer("english").stemWords(list(words)))


# Words that name the kind of answer asked for rather than its subject: "what is the *date*
# of …" is answered by "March 29, 1999", in a sentence that need not say "date".
_META_WORDS = {
    AnswerType.TITLE: frozenset("name names named title titled called".split()),
    AnswerType.DATE: frozenset("date dates dated day when".split()),
    AnswerType.PARTY: frozenset("party parties who whom signed signatories".split()),
    AnswerType.PLACE: frozenset("where".split()),
}


_HUMP = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _words(text: str) -> list[str]:
    """The words of `text`, lowercased; a code identifier also gives its parts after it
    ("DEFAULT_MAX_INCOMPLETE_EVENT_SIZE" → … "incomplete", "event", "size"; "PathSpec" →
    "path", "spec"), so that a question in plain words finds the line that names them."""
    out = []
    for token in _TERM.findall(text):
        out.append(token.lower())
        if "_" in token or (token[1:] != token[1:].lower() and token != token.upper()):
            parts = [p.lower() for chunk in token.split("_") for p in _HUMP.findall(chunk)]
            if len(parts) > 1:
                out += [p for p in parts if len(p) > 1]
    return out


def question_terms(question: str, kind: AnswerType | None = None) -> list[str]:
    """The question's content words, stemmed, in order (question and function words out, and
    the words that only name the answer's kind)."""
    meta = _META_WORDS.get(kind, frozenset()) if kind else frozenset()
    words = [
        w for w in _TERM.findall(question.lower()) if w not in _QUESTION_WORDS and w not in meta
    ]
    return _stems(words)


def _lead_in(text: str) -> str:
    """A sentence's heading-like opening: "9.9 GOVERNING LAW", "1.2. Territory."."""
    m = re.match(
        r"\s*(?:[\d.()a-z]{1,8}\s+)?((?:[A-Z][A-Za-z&/'-]*\s*){1,6}?)(?:\.|:|\s{2}|$)", text
    )
    if m is None:
        return ""
    lead = m.group(1).strip()
    if len(lead) > 60 or (lead and not (lead.isupper() or m.group(0).rstrip().endswith("."))):
        return ""
    return lead


_NOT_IDENTITY = re.compile(
    r"\b(expir\w*|terminat\w*|renew\w*|end|ends|ending|due|deadline|until|last|notice)\b", re.I
)


def asks_identity(question: str, kind: AnswerType) -> bool:
    """Whether a question asks what a document is: its title, its parties, its own date.
    Those are stated at its opening ("This AGENCY AGREEMENT is made as of March 29, 1999 by
    and between …"), which shares few words with the question."""
    if kind in (AnswerType.TITLE, AnswerType.PARTY):
        return True
    return kind is AnswerType.DATE and not _NOT_IDENTITY.search(question)


def asks_term(question: str, kind: AnswerType) -> bool:
    """Whether a question asks how long the agreement itself runs or when it ends ("On what
    date will the initial term expire?"), not a renewal or a notice."""
    return (
        kind in (AnswerType.DATE, AnswerType.DURATION)
        and not asks_identity(question, kind)
        and asked_role(question)[0] is Role.TERM
    )


# --------------------------------------------------------------------------------- ranking
def rank_sentences(
    question: str,
    passages: Sequence[ContextItem],
    *,
    idf: Idf | None = None,
    embed: Embed | None = None,
    weights: Weights = Weights(),
    kind: AnswerType | None = None,
    code: Callable[[ContextItem], bool] | None = None,
    max_dense: int = 40,
) -> list[ScoredSentence]:
    """Every sentence of `passages` (best-ranked passage first), scored for `question`, best
    first. `idf` maps stems to corpus idf (None: every stem weighs 1); `embed` gives unit
    vectors for texts (None: no meaning score); `code(item)` says whether a passage is code
    (split into line groups instead of sentences)."""
    kind = kind or answer_type(question)
    terms = question_terms(question, kind)
    unique = list(dict.fromkeys(terms))
    weight = dict(zip(unique, idf(unique), strict=True)) if (idf and unique) else {}
    if unique and not weight:
        weight = dict.fromkeys(unique, 1.0)
    # A question whose only words are common ones ("When is it *effective*?") must not make
    # every sentence with that word look like the answer: the share is of at least a rare
    # word's worth of idf.
    floor = 0.0
    if idf and unique:
        # a word no passage has gets the corpus's highest idf; in a small project every idf is
        # small, so the floor follows it
        floor = min(_IDF_FLOOR, 0.55 * idf(["\x00"])[0])
    total = max(sum(weight.get(t, 0.0) for t in unique), floor) or 1.0
    pairs = {frozenset((a, b)) for a, b in itertools.pairwise(terms) if a != b}
    identity = asks_identity(question, kind)
    term = asks_term(question, kind)
    out: list[ScoredSentence] = []
    parts: list[tuple[ScoredSentence, float]] = []
    for rank, item in enumerate(passages):
        prior = 1.0 / (1.0 + rank)
        spans = tuple(split_sentences(item.text, code=bool(code and code(item))))
        heading_terms = set(question_terms(" ".join(item.locator.heading_path)))
        for index, (start, end) in enumerate(spans):
            text = item.text[start:end]
            words = _stems(_words(text))
            present = set(words)
            held = sum(weight.get(t, 0.0) for t in unique if t in present)
            share = held / total
            if len(unique) >= 2 and present.issuperset(unique):
                # Every word of the question, however common in this corpus (a project of
                # copies of one contract): it speaks to the question; the floor is for
                # sentences that share only a common word or two with it.
                share = 1.0
            n_words = len(words)
            cover = share * math.sqrt(60 / n_words) if n_words > 60 else share
            adjacent = {frozenset(p) for p in itertools.pairwise(words)}
            pair_bonus = min(1.0, len(pairs & adjacent) / 2) if pairs else 0.0
            lead = heading_terms | set(question_terms(_lead_in(text)))
            head = sum(weight.get(t, 0.0) for t in unique if t in lead) / total
            typed = 1.0 if holds(kind, text) else 0.0
            if typed and identity and kind is AnswerType.DATE and dates_itself(text):
                typed = 2.0  # "This Agreement is entered into as of March 18, 2019"
            if term and states_term(text):
                typed = 2.0  # "The term of this Agreement … shall continue until …"
            opening = 0.0
            if identity and item.chunk_id.endswith(":0"):
                opening = 1.0 / (1.0 + index / 4)  # the first sentences of the document
            score = (
                weights.opening * opening
                + weights.words * cover
                + weights.pairs * pair_bonus
                + weights.heading * head
                + weights.type * typed
                + weights.passage * prior
            )
            # how much of the question the sentence (or its heading) speaks to, undamped
            relevance = min(1.0, max(share, head) + 0.5 * min(share, head))
            sentence = ScoredSentence(item, start, end, index, score, spans, relevance)
            parts.append((sentence, score))
    if not parts:
        return out
    if embed is not None and weights.meaning:
        parts = _add_meaning(question, parts, embed, weights.meaning, max_dense)
    out = [dataclasses.replace(s, score=score) for s, score in parts]
    out.sort(key=lambda s: -s.score)
    return out


def _add_meaning(
    question: str,
    parts: list[tuple[ScoredSentence, float]],
    embed: Embed,
    weight: float,
    limit: int,
) -> list[tuple[ScoredSentence, float]]:
    """Add the dense similarity of the `limit` best sentences so far (the rest keep their
    score: embedding every sentence of every passage costs too much on a CPU)."""
    order = sorted(range(len(parts)), key=lambda i: -parts[i][1])[:limit]
    texts = [question] + [parts[i][0].text for i in order]
    vectors = embed(texts)
    sims = vectors[1:] @ vectors[0]
    lo, hi = float(sims.min()), float(sims.max())
    span = hi - lo or 1.0
    out = list(parts)
    for i, sim in zip(order, sims, strict=True):
        sentence, score = out[i]
        sentence = dataclasses.replace(sentence, meaning=float(sim))
        out[i] = (sentence, score + weight * (float(sim) - lo) / span)
    return out


# --------------------------------------------------------------------------------- windows
def select_evidence(
    ranked: Sequence[ScoredSentence],
    *,
    budget: int,
    count: Count,
    max_windows: int = 6,
    min_score: float = 0.0,
    first_key: int = 1,
    per_passage: int = 3,
) -> list[Evidence]:
    """The best sentences as keyed windows that fit `budget` tokens (text and header), best
    first; sentences scoring under `min_score` are left out."""
    chosen: dict[tuple[str, int], list[tuple[int, int, int, float]]] = {}
    relevance: dict[tuple[str, int, int], float] = {}
    meaning: dict[tuple[str, int, int], float] = {}
    by_item: dict[tuple[str, int], ContextItem] = {}
    spans_of: dict[tuple[str, int], tuple[tuple[int, int], ...]] = {}
    used = 0
    header = 14  # "[e1] name.pdf p. 12 · Heading" costs about this many tokens
    picked = 0
    for s in ranked:
        if s.score < min_score or picked >= max_windows:
            break
        ident = (s.item.chunk_id, s.item.level)
        taken = chosen.setdefault(ident, [])
        if len(taken) >= per_passage:
            continue
        if any(a <= s.start < b or a < s.end <= b for a, b, _, _ in taken):
            continue
        cost = count(s.text) + (header if not taken else 2)
        if used + cost > budget:
            continue
        by_item[ident] = s.item
        spans_of[ident] = s.spans
        relevance[(s.item.chunk_id, s.start, s.end)] = s.relevance
        if s.meaning is not None:
            meaning[(s.item.chunk_id, s.start, s.end)] = s.meaning
        taken.append((s.start, s.end, s.index, s.score))
        used += cost
        picked += 1
    if not chosen:
        return []
    # Lead-ins and continuations, best window first, while the budget lasts.
    for ident, taken in chosen.items():
        if not taken:
            continue
        item = by_item[ident]
        spans = spans_of[ident]
        grown = []
        for start, end, index, score in sorted(taken, key=lambda t: -t[3]):
            if index > 0:
                ps, pe = spans[index - 1]
                lead = item.text[ps:pe]
                if len(lead) <= 90 and used + count(lead) <= budget:
                    start, used = ps, used + count(lead)
            body = item.text[start:end].rstrip()
            # a heading ("2.5 Non-Compete Covenant.") or an opening that ends in a colon: the
            # words that answer are in the sentence after it
            if (body.endswith(":") or len(body) <= 90) and index + 1 < len(spans):
                ns, ne = spans[index + 1]
                more = item.text[ns:ne]
                if used + count(more) <= budget:
                    end, used = ne, used + count(more)
            grown.append((start, end, index, score))
        chosen[ident] = grown
    windows: list[tuple[ContextItem, int, int, float]] = []
    for ident, taken in chosen.items():
        if not taken:
            continue
        item = by_item[ident]
        merged: list[list[float]] = []
        for start, end, _, score in sorted(taken):
            gap = item.text[int(merged[-1][1]) : start] if merged else None
            if merged and (start <= merged[-1][1] or (gap is not None and not gap.strip())):
                merged[-1][1] = max(merged[-1][1], end)
                merged[-1][2] = max(merged[-1][2], score)
            else:
                merged.append([start, end, score])
        windows += [(item, int(a), int(b), c) for a, b, c in merged]
    windows.sort(key=lambda w: -w[3])
    out = []
    for i, (item, start, end, score) in enumerate(windows):
        sentences = tuple(
            (a, b) for a, b in spans_of[(item.chunk_id, item.level)] if a >= start and b <= end
        )
        best = max(
            (
                r
                for (cid, a, b), r in relevance.items()
                if cid == item.chunk_id and a >= start and b <= end
            ),
            default=0.0,
        )
        sims = [
            m
            for (cid, a, b), m in meaning.items()
            if cid == item.chunk_id and a >= start and b <= end
        ]
        out.append(
            Evidence(
                f"e{first_key + i}", item, start, end, sentences, score, best,
                max(sims) if sims else None,
            )
        )  # fmt: skip
    return out
