"""Find the context for a question.

Specific questions: keyword search (BM25 over stemmed words, exact words and defined code
symbols; FTS5 until that index exists) and dense embeddings (a chunk scored by its best
sentence window) over chunks AND summary nodes of every level (the "collapsed tree"), fused
by normalized score (or reciprocal rank). Then three placement rules: the dense leg's best
chunk keeps second place (a paraphrasing question shares no word with its evidence), an
identity question's document head goes second, and a chunk defining a symbol the question
asks for goes first. A summary node that ranks well is expanded into its best-matching leaf
chunks, so the model reads original text and citations point at exact pages and lines. The
items that fit the budget are ordered with the best at both ends (lost-in-the-middle).

Whole-corpus questions ("summarize…", "compare A and B", "what does this codebase do") are
routed to the top of the tree: the corpus root, document roots and the levels below them, as far
as the budget allows, in document order. Their citations point at the nodes' page/line spans.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.errors import StoreError
from engine.index.lexical import LexicalIndex, asked_definitions
from engine.index.tree.read import TreeReader
from engine.qa.fusion import Fusion, rrf, score_fusion
from engine.qa.intent import Route, classify, is_identity
from engine.qa.packing import Count, Order, chunk_item, node_item, pack
from engine.qa.periods import dates_itself
from engine.store import documents
from engine.store.db import ProjectStore
from engine.types import ContextItem, ItemKind, ItemRef, StoredChunk, SummaryNode
from ingest.chunking import load_segments, locate
from ingest.types import Chunk, Locator

__all__ = [
    "DenseSearch",
    "HybridRetriever",
    "Modes",
    "Retrieval",
    "Retriever",
]


@dataclass(frozen=True, slots=True)
class Retrieval:
    """What a retriever found: ranked context items (already within budget) and notices."""

    items: tuple[ContextItem, ...]
    notices: tuple[str, ...] = ()


class Retriever:
    """Finds context for a question (`HybridRetriever` is the one Tomes uses)."""

    def __call__(
        self,
        question: str,
        *,
        budget: int,
        count: Callable[[str], int],
        exclude: frozenset[str],
    ) -> Retrieval:  # pragma: no cover - interface
        """Context for `question` within `budget` tokens (measured by `count`), leaving out
        the items whose `chunk_id` is in `exclude` (what the model already saw)."""
        raise NotImplementedError

    def leaves(self, item: ContextItem) -> Sequence[ContextItem]:
        """Leaf chunks under a summary item (none for a chunk)."""
        return ()

    def locate(self, item: ContextItem, start: int, end: int) -> Locator:
        """Exact locator of item.text[start:end]."""
        return item.locator


class DenseSearch(Protocol):
    """Nearest neighbours of a question among embedded chunks and nodes."""

    def search(
        self, question: str, *, k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[ItemKind, str, float]]:
        """(kind, ref, cosine) best first, optionally within documents."""
        ...


@dataclass(frozen=True, slots=True)
class Modes:
    """Which retrievers take part (the quality benchmark compares these)."""

    bm25: bool = True
    dense: bool = True
    tree: bool = True


_DEFINITIONS = 5  # symbol hits checked for a definition the question asks for
_HEAD_CHUNKS = 8  # first chunks of a document searched for its opening words


def _packable(ranked: list[ContextItem], budget: int) -> list[ContextItem]:
    """The head of `ranked` that packing can use: items while their stored (cl100k) sizes add
    up to three budgets, and at least eight. Packing measures each candidate with the
    answering model's tokenizer, and measuring all ~80-150 candidates was two thirds of a
    question's retrieval time (cProfile, 32k-token project) for items past the budget that
    are never chosen; three budgets leave room for items skipped as too big and for
    tokenizers that count differently from cl100k."""
    total = 0
    for i, item in enumerate(ranked):
        total += item.n_tokens
        if total > 3 * budget and i >= 8:
            return ranked[: i + 1]
    return ranked


def _lead_second(out: list[ContextItem], chunk_id: str | None) -> list[ContextItem]:
    """`chunk_id` (the dense leg's best chunk) moved up to second place if it ranks lower.

    Why: a question that paraphrases its evidence shares no word with it, so the keyword
    legs (two of the three votes) rank chunks that merely share "which" or "year" first,
    and the one chunk the dense leg is surest of sinks below the budget. Measured on the
    paraphrased needles and CUAD in bench/quality.py (the report has the table)."""
    if chunk_id is None:
        return out
    at = next((i for i, item in enumerate(out) if item.chunk_id == chunk_id), None)
    if at is None or at <= 1:
        return out
    item = out.pop(at)
    out.insert(1, item)
    return out


class HybridRetriever(Retriever):
    """BM25 + dense over chunks and tree nodes, fused; whole-corpus questions read the tree."""

    def __init__(
        self,
        store: ProjectStore,
        *,
        dense: DenseSearch | None = None,
        modes: Modes = Modes(),
        candidates: int = 60,
        rrf_k: int = 60,
        notices: Sequence[str] = (),
        scope: Sequence[str] | None = None,
        lexical: LexicalIndex | None = None,
        route: Route | None = None,
        fusion: Fusion = "score",
        dense_lead: bool = True,
    ) -> None:
        self.store = store
        self.lexical = lexical
        self.route = route  # None: decided per question by `classify`
        self.fusion = fusion
        self.dense_lead = dense_lead  # the dense leg's best chunk kept in second place
        self.scope = list(scope) if scope is not None else None  # document ids, or all
        self.dense = dense if modes.dense else None
        self.modes = modes
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.notices = tuple(notices)
        self.tree = TreeReader(store)
        self._names: dict[str, str] | None = None

    # ---------------------------------------------------------------- helpers
    def names(self) -> dict[str, str]:
        if self._names is None:
            self._names = documents.document_names(self.store)
        return self._names

    def _document(self, doc_id: str) -> str:
        return self.names().get(doc_id, "") if doc_id else "All documents"

    def _span_search(self, question: str, node: SummaryNode, limit: int) -> list[StoredChunk]:
        """The node's leaf chunks that best match the question (BM25 within its span)."""
        if not node.doc_id:
            return []
        return documents.search_span(
            self.store, question, node.doc_id, node.chunk_start, node.chunk_end, limit=limit
        )

    # ---------------------------------------------------------------- Retriever protocol
    def __call__(
        self, question: str, *, budget: int, count: Count, exclude: frozenset[str]
    ) -> Retrieval:
        intent = self.route or classify(question)
        if intent in (Route.GLOBAL, Route.COMPARE) and self.modes.tree:
            items = self.overview(question, budget=budget, count=count, exclude=exclude)
            if items:
                return Retrieval(tuple(items), self.notices)
        ranked = self.rank(question, exclude=exclude, broad=intent == Route.LIST)
        order: Order = "document" if intent == Route.LIST else "edges"
        ranked = _packable(ranked, budget)
        return Retrieval(tuple(pack(ranked, budget, count=count, order=order)), self.notices)

    def rank(
        self, question: str, *, exclude: frozenset[str] = frozenset(), broad: bool = False
    ) -> list[ContextItem]:
        """Candidate chunks (and expanded nodes), best first, before packing."""
        n = self.candidates * (3 if broad else 1)
        rankings: list[list[tuple[ItemRef, float]]] = []
        chunk_hits: dict[str, StoredChunk] = {}
        symbol_hits: list[tuple[str, float]] = []
        if self.modes.bm25:
            ranked = None
            if self.lexical is not None and self.lexical.is_current(self.store):
                ranked = self.lexical.search(question, k=n, doc_ids=self.scope)
            if ranked is not None:  # stemmed, exact-word and symbol BM25 (index/lexical.py)
                symbol_hits = ranked.get("symbol", [])
                for hits_ in ranked.values():
                    rankings.append([(ItemRef.chunk(cid), score) for cid, score in hits_])
            else:  # not built yet: FTS5 answers from the moment ingest ends
                hits = self.store.search(question, limit=n, doc_ids=self.scope)
                chunk_hits.update((c.id, c) for c, _ in hits)
                rankings.append([(ItemRef.chunk(c.id), score) for c, score in hits])
            if self.modes.tree:
                nodes = self.tree.search(question, limit=n // 3, doc_ids=self.scope)
                rankings.append([(ItemRef.node(node.id), score) for node, score in nodes])
        dense: list[tuple[ItemKind, str, float]] = []
        if self.dense is not None:
            dense = self.dense.search(question, k=n, doc_ids=self.scope)
            rankings.append(
                [
                    (ItemRef(kind, ref), cos)
                    for kind, ref, cos in dense
                    if kind == "chunk" or self.modes.tree
                ]
            )
        if self.fusion == "score":
            fused = score_fusion(rankings)
        else:
            fused = rrf([[ref for ref, _ in r] for r in rankings], k=self.rrf_k)
        ordered = sorted(fused.items(), key=lambda kv: -kv[1])
        missing = [ref.id for ref, _ in ordered if ref.kind == "chunk" and ref.id not in chunk_hits]
        for chunk in self.store.chunks(missing):
            chunk_hits[chunk.id] = chunk
        out: list[ContextItem] = []
        taken: set[str] = set(exclude)
        heads = self._heads(question, ordered) if not broad else []
        for ref, score in ordered:
            if ref.kind == "chunk":
                hit = chunk_hits.get(ref.id)
                if hit is not None and hit.id not in taken:
                    taken.add(hit.id)
                    out.append(chunk_item(hit, score))
                continue
            try:
                node = self.tree.node(ref.node_id)
            except KeyError:
                continue  # rewritten since it was embedded
            # Expand the summary into the original text it summarizes.
            for leaf in self._span_search(question, node, 2 if node.level > 1 else 1):
                if leaf.id not in taken:
                    taken.add(leaf.id)
                    out.append(chunk_item(leaf, score))
        for head in heads:  # second place: the best match keeps the first
            if head.id in exclude:
                continue
            at = next((i for i, item in enumerate(out) if item.chunk_id == head.id), None)
            item = out.pop(at) if at is not None else chunk_item(head, 0.0)
            out.insert(min(1, len(out)), item)
        if not broad and self.dense_lead and dense:
            out = _lead_second(out, next((r for k, r, _ in dense if k == "chunk"), None))
        if not broad:
            out = self._definitions_first(question, symbol_hits, chunk_hits, out)
        return out

    def _definitions_first(
        self,
        question: str,
        symbol_hits: Sequence[tuple[str, float]],
        chunk_hits: dict[str, StoredChunk],
        out: list[ContextItem],
    ) -> list[ContextItem]:
        """Chunks defining a symbol the question asks for (by name, or by every word of its
        name) go first, best symbol match first: a question naming a function wants its
        definition, which plain BM25 ranks below the chunks that call it most often."""
        first: list[str] = []
        for cid, _ in symbol_hits[:_DEFINITIONS]:
            chunk = chunk_hits.get(cid)
            if chunk is not None and asked_definitions(question, chunk.text):
                first.append(cid)
        if not first:
            return out
        at = {item.chunk_id: item for item in out}
        lead = [at[cid] for cid in first if cid in at]
        return lead + [item for item in out if item.chunk_id not in set(first)]

    def _heads(self, question: str, ordered: Sequence[tuple[ItemRef, float]]) -> list[StoredChunk]:
        """First chunks of the documents an identity question is most likely about."""
        if not is_identity(question):
            return []
        doc_ids: list[str] = list(self.scope or [])[:2]
        if not doc_ids:
            prefixes = []
            for ref, _ in ordered:
                if ref.kind == "chunk":
                    prefix, _ordinal = Chunk.split_id(ref.id)
                    if prefix not in prefixes:
                        prefixes.append(prefix)
                if len(prefixes) == 2:
                    break
            names = self.names()
            doc_ids = [d for p in prefixes for d in names if d.startswith(p)][:2]
        return [chunk for doc_id in doc_ids for chunk in self.opening(doc_id)]

    def opening(self, doc_id: str) -> list[StoredChunk]:
        """A document's first chunk, and the first of its first chunks that dates the
        agreement when that is another (its opening words: "This Agreement is entered into as
        of March 18, 2019 by and between …")."""
        first = self.store.doc_chunks(doc_id, limit=_HEAD_CHUNKS)
        out = first[:1]
        if not first or dates_itself(first[0].text):
            return out
        # A cover page and a table of contents can fill the first chunks.
        opening = next((c for c in first[1:] if dates_itself(c.text)), None)
        return [*out, opening] if opening is not None else out

    def overview(
        self, question: str, *, budget: int, count: Count, exclude: frozenset[str]
    ) -> list[ContextItem]:
        """Top-of-tree context for whole-corpus questions, breadth first, in document order."""
        names = self.names()
        if self.scope is not None:
            names = {d: n for d, n in names.items() if d in self.scope}
        mentioned = _mentioned_docs(question, names)
        doc_ids = mentioned or list(names)
        queues: list[list[SummaryNode]] = []
        for doc_id in doc_ids:
            nodes = self.tree.top_levels(doc_id)
            if nodes:
                queues.append(nodes)
        if not queues:
            return []
        picked: list[SummaryNode] = []
        corpus = self.tree.corpus_root() if not mentioned and len(queues) > 1 else None
        if corpus is not None and corpus.doc_id == "":
            picked.append(corpus)
        # Round-robin over documents, each from its root down, so every document (or each side
        # of a comparison) gets an equal share of the budget.
        levels = sorted({n.level for q in queues for n in q}, reverse=True)
        for level in levels:
            for queue in queues:
                picked.extend(n for n in queue if n.level == level)
        items = [
            node_item(n, self._document(n.doc_id))
            for n in picked
            if ItemRef.node(n.id).key not in exclude
        ]
        chosen = pack(items, budget, count=count, order="rank")
        position = {
            ItemRef.node(n.id): i for i, n in enumerate(sorted(picked, key=_doc_order(doc_ids)))
        }
        return sorted(chosen, key=lambda it: position.get(it.ref, 0))

    def groups(
        self, question: str, *, budget: int, count: Count, max_groups: int
    ) -> list[list[ContextItem]]:
        """For "list every …" questions: the parts of the corpus worth reading in full, one
        group per relevant level-1 summary node (its best leaf chunks, up to `budget` tokens),
        most relevant first. Without a tree yet, relevant chunks grouped by document.
        Keys are minted across all groups so every listed item stays citable."""
        ranked = self.rank(question, broad=True)
        by_group: dict[tuple[str, int], list[ContextItem]] = {}
        level1 = self.tree.nodes(level=1) if self.modes.tree else []
        spans: dict[str, list[SummaryNode]] = {}
        for node in level1:
            spans.setdefault(node.doc_id, []).append(node)
        for item in ranked:
            _prefix, ordinal = Chunk.split_id(item.chunk_id)
            owner = _owner(spans.get(item.doc_id, ()), ordinal)
            by_group.setdefault((item.doc_id, owner), []).append(item)
        picked = list(by_group.values())[:max_groups]
        out: list[list[ContextItem]] = []
        next_key = 1
        for items in picked:
            chosen = pack(items, budget, count=count, order="rank")
            chosen.sort(key=lambda it: Chunk.split_id(it.chunk_id)[1])  # reading order
            rekeyed = [
                dataclasses.replace(it, key=f"c{next_key + i}") for i, it in enumerate(chosen)
            ]
            next_key += len(rekeyed)
            if rekeyed:
                out.append(rekeyed)
        return out

    # ---------------------------------------------------------------- citations
    def leaves(self, item: ContextItem) -> Sequence[ContextItem]:
        ref = item.ref
        if item.level == 0 or ref.kind != "node":
            return ()
        node = self.tree.node(ref.node_id)
        if not node.doc_id:
            return ()
        chunks = self.store.doc_chunks(node.doc_id, node.chunk_start, node.chunk_end, limit=301)
        return [chunk_item(c, 0.0) for c in chunks]

    def locate(self, item: ContextItem, start: int, end: int) -> Locator:
        """The page or lines of item.text[start:end] (a chunk's span otherwise: a summary
        node, or a chunk removed since, e.g. its document was deleted mid-answer)."""
        if item.level > 0:
            return item.locator
        try:
            stored = self.store.chunk(item.chunk_id)
        except StoreError:  # no such chunk any more
            return item.locator
        chunk = Chunk(
            stored.doc_id,
            stored.ordinal,
            stored.text,
            stored.n_tokens,
            stored.locator,
            stored.overlap,
        )
        try:
            return locate(
                chunk, start, end, load_segments(stored.segments_json, doc_id=stored.doc_id)
            )
        except ValueError:
            return item.locator


def _owner(nodes: Sequence[SummaryNode], ordinal: int) -> int:
    """Id of the level-1 node covering chunk `ordinal` (-1: none yet)."""
    return next((n.id for n in nodes if n.chunk_start <= ordinal <= n.chunk_end), -1)


def _doc_order(doc_ids: Sequence[str]) -> Callable[[SummaryNode], tuple[int, int, int]]:
    rank = {d: i for i, d in enumerate(doc_ids)}
    return lambda n: (-1 if not n.doc_id else rank.get(n.doc_id, 0), -n.level, n.chunk_start)


_NAME_WORD = re.compile(r"[a-z0-9]{3,}")
_GENERIC = frozenset(
    "pdf docx txt md the and agreement contract document file copy final draft version".split()
)


def _mentioned_docs(question: str, names: dict[str, str]) -> list[str]:
    """Documents the question names (by a distinctive word of the file name)."""
    q = set(_NAME_WORD.findall(question.lower()))
    out = []
    for doc_id, name in names.items():
        stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
        words = set(_NAME_WORD.findall(stem)) - _GENERIC
        if words and words & q:
            out.append(doc_id)
    return out if len(out) < len(names) or len(names) == 1 else []
