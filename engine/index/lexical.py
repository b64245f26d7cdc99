"""Keyword ranking: Lucene-style BM25 over a project's chunks, three ways (Snowball-stemmed
words, exact words, and the code symbols a chunk defines), built after ingest and saved in the
project folder.

The `symbol` variant indexes, for each chunk of a source file, the names it defines
(engine.index.symbols: functions, classes, types, constants) whole and split into stemmed
words (`parse_config_file` → parse_config_file, pars, config, file). A question naming a
function then ranks its definition above the many chunks that only call it, and one
describing it ("which function parses the config file?") finds it by the words of its name.
Chunks of other documents have no symbol terms, so the variant is empty outside code.

Why not FTS5's own bm25(): on the CUAD benchmark (453 clause questions, one contract each),
ranking the same chunks with this scoring (the one the bm25s library uses: Lucene IDF,
k1=1.5, b=0.75, English stopwords, Snowball stemmer) found the gold clause within a 2k-token
budget for 70-74% of questions, against 66-71% with FTS5's ranking. FTS5 still answers
keyword queries until this index is built, and serves phrase and filter queries.

Memory: the build streams chunks page by page into compact arrays (term id, chunk, score);
queries read only the posting lists of their terms from memory-mapped .npy files.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import threading
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.errors import Cancelled
from engine.index.symbols import definitions, identifiers, split_identifier
from engine.store import documents
from engine.store.db import ProjectStore
from engine.store.private import private_tree

__all__ = [
    "STOPWORDS",
    "LexicalIndex",
    "analyze",
    "asked_definitions",
    "symbol_query",
    "symbol_terms",
]

K1 = 1.5
B = 0.75
VERSION = 2  # 2: the `symbol` variant
# The short English list bm25s uses: dropping more words hurt recall on CUAD.
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_PAGE = 1000
VARIANTS = ("stem", "exact", "symbol")


@cache
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: Snowball in C, ~10x faster than pure-Python stemmers

    return Stemmer.Stemmer("english")


def analyze(text: str) -> tuple[list[str], list[str]]:
    """(stemmed, exact) terms of `text`: lower-cased words of 2+ characters, stopwords out."""
    words = [w for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS]
    return _stemmer().stemWords(words), words


def symbol_terms(text: str) -> list[str]:
    """The `symbol` variant's terms of a code chunk: each name it defines, lower-cased, and
    the stemmed words inside it."""
    out: list[str] = []
    for sym in definitions(text):
        words = [w for w in split_identifier(sym.name) if len(w) > 1 and w not in STOPWORDS]
        out.append(sym.name.lower())
        out.extend(w for w in _stemmer().stemWords(words) if w != sym.name.lower())
    return out


def asked_definitions(question: str, text: str) -> list[str]:
    """The names defined in code `text` that `question` asks for: spelled out whole
    (`parse_config_file`, DEFAULT_TIMEOUT), or, for a name of two or more words, with every
    word of it in the question, stemmed ("which function parses the config file?"). A
    one-word name (`load`) counts only when the question writes it as code (`load()`)."""
    terms = set(symbol_query(question))
    code_words = {i.lower() for i in identifiers(question)}
    asked: list[str] = []
    for sym in definitions(text):
        name = sym.name.lower()
        words = [w for w in split_identifier(sym.name) if len(w) > 1 and w not in STOPWORDS]
        stems = set(_stemmer().stemWords(words))
        if (
            (len(words) >= 2 and (name in terms or stems <= terms))
            or name in code_words
            or f"`{name}`" in question.lower()
        ):
            asked.append(sym.name)
    return asked


def symbol_query(query: str) -> list[str]:
    """The `symbol` variant's terms of a question, each once: its stemmed and exact words,
    and the stemmed words inside its code-like identifiers (`HTTPServer` → http, server)."""
    stems, exact = analyze(query)
    inside = [w for i in identifiers(query) for w in split_identifier(i) if len(w) > 1]
    return list(dict.fromkeys([*stems, *exact, *_stemmer().stemWords(inside)]))


def _stamp(store: ProjectStore) -> str:
    """Identity of the current set of chunks (changes when documents come or go)."""
    n, top, total = documents.chunk_stamp(store)
    return f"v{VERSION}:{n}:{top}:{total}"


@dataclass
class _Postings:
    vocab: dict[str, int]
    indptr: npt.NDArray[np.int64]
    docs: npt.NDArray[np.int32]
    scores: npt.NDArray[np.float32]


class LexicalIndex:
    """The BM25 indexes of one project, stored in `<project folder>/lexical/`."""

    def __init__(self, project_folder: Path) -> None:
        self.folder = Path(project_folder) / "lexical"
        self._lock = threading.Lock()
        self._loaded_stamp: str | None = None
        self._postings: dict[str, _Postings] = {}
        self._chunk_ids: list[str] = []
        self._doc_codes: npt.NDArray[np.int32] = np.empty(0, dtype=np.int32)
        self._doc_names: list[str] = []

    # ------------------------------------------------------------------ state
    def saved_stamp(self) -> str | None:
        try:
            return str(json.loads((self.folder / "meta.json").read_text())["stamp"])
        except (OSError, ValueError, KeyError):
            return None

    def is_current(self, store: ProjectStore) -> bool:
        """Whether the saved index covers exactly the project's chunks."""
        return self.saved_stamp() == _stamp(store)

    # ------------------------------------------------------------------ build
    def build(
        self, store: ProjectStore, *, cancel: threading.Event | None = None
    ) -> Iterator[tuple[int, int]]:
        """(Re)build both indexes, yielding (chunks done, total). Written to a temporary
        folder and swapped in atomically: a crash leaves the previous index (or none)."""
        stamp = _stamp(store)
        total = documents.count_chunks(store)
        vocabs: dict[str, dict[str, int]] = {v: {} for v in VARIANTS}
        terms = {v: array("i") for v in VARIANTS}
        chunks_of = {v: array("i") for v in VARIANTS}
        tfs = {v: array("H") for v in VARIANTS}
        lengths = {v: array("i") for v in VARIANTS}
        chunk_ids: list[str] = []
        doc_codes = array("i")
        doc_index: dict[str, int] = {}
        code_docs = documents.code_doc_ids(store)
        yield 0, total
        for rows in documents.chunk_pages(store, page=_PAGE):
            if cancel is not None and cancel.is_set():
                raise Cancelled("keyword index build stopped; it restarts with the next indexing")
            for chunk_id, doc_id, text in rows:
                n = len(chunk_ids)
                chunk_ids.append(chunk_id)
                doc_codes.append(doc_index.setdefault(doc_id, len(doc_index)))
                symbols = symbol_terms(text) if doc_id in code_docs else []
                for variant, words in zip(VARIANTS, (*analyze(text), symbols), strict=True):
                    vocab = vocabs[variant]
                    counts = Counter(vocab.setdefault(w, len(vocab)) for w in words)
                    lengths[variant].append(len(words))
                    for term, tf in counts.items():
                        terms[variant].append(term)
                        chunks_of[variant].append(n)
                        tfs[variant].append(min(tf, 65535))
            yield len(chunk_ids), total
        tmp = self.folder.with_name(f"lexical.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        n_chunks = len(chunk_ids)
        for variant in VARIANTS:
            self._write_postings(
                tmp / variant,
                vocabs[variant],
                np.frombuffer(terms[variant], dtype=np.int32),
                np.frombuffer(chunks_of[variant], dtype=np.int32),
                np.frombuffer(tfs[variant], dtype=np.uint16),
                np.frombuffer(lengths[variant], dtype=np.int32),
                n_chunks,
            )
        np.save(tmp / "doc_codes.npy", np.frombuffer(doc_codes, dtype=np.int32))
        (tmp / "chunks.json").write_text(json.dumps(chunk_ids))
        (tmp / "docs.json").write_text(json.dumps(list(doc_index)))
        (tmp / "meta.json").write_text(json.dumps({"stamp": stamp, "chunks": n_chunks}))
        private_tree(tmp)  # the index holds the documents' words: the user's alone
        old = self.folder.with_name(f"lexical.old-{os.getpid()}")
        with self._lock:
            if self.folder.exists():
                self.folder.replace(old)
            tmp.replace(self.folder)
            self._loaded_stamp = None
        shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def _write_postings(
        folder: Path,
        vocab: dict[str, int],
        terms: npt.NDArray[np.int32],
        chunks: npt.NDArray[np.int32],
        tfs: npt.NDArray[np.uint16],
        lengths: npt.NDArray[np.int32],
        n_chunks: int,
    ) -> None:
        folder.mkdir()
        avg = float(lengths.mean()) if len(lengths) else 1.0
        df = np.bincount(terms, minlength=len(vocab)).astype(np.float64)
        idf = np.log1p((n_chunks - df + 0.5) / (df + 0.5))
        tf = tfs.astype(np.float32)
        norm = K1 * (1 - B + B * lengths[chunks].astype(np.float32) / max(avg, 1e-9))
        scores = (idf[terms].astype(np.float32) * tf / (tf + norm)).astype(np.float32)
        order = np.argsort(terms, kind="stable")
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=len(vocab)), out=indptr[1:])
        np.save(folder / "indptr.npy", indptr)
        np.save(folder / "docs.npy", chunks[order])
        np.save(folder / "scores.npy", scores[order])
        (folder / "vocab.json").write_text(json.dumps(vocab))

    # ------------------------------------------------------------------ search
    def _load(self) -> bool:
        stamp = self.saved_stamp()
        if stamp is None:
            return False
        if stamp == self._loaded_stamp:
            return True
        postings = {}
        for variant in VARIANTS:
            folder = self.folder / variant
            postings[variant] = _Postings(
                json.loads((folder / "vocab.json").read_text()),
                np.load(folder / "indptr.npy", mmap_mode="r"),
                np.load(folder / "docs.npy", mmap_mode="r"),
                np.load(folder / "scores.npy", mmap_mode="r"),
            )
        self._postings = postings
        self._chunk_ids = json.loads((self.folder / "chunks.json").read_text())
        self._doc_names = json.loads((self.folder / "docs.json").read_text())
        self._doc_codes = np.load(self.folder / "doc_codes.npy")
        self._loaded_stamp = stamp
        return True

    def idf(self, stems: Sequence[str]) -> list[float]:
        """The BM25 idf of each Snowball stem over the project's chunks (a word no chunk has
        gets the highest); all 1.0 before the index is built."""
        with self._lock:
            if not self._load():
                return [1.0] * len(stems)
            p = self._postings["stem"]
            n = len(self._chunk_ids)
            out = []
            for stem in stems:
                t = p.vocab.get(stem)
                df = 0 if t is None else int(p.indptr[t + 1] - p.indptr[t])
                out.append(math.log1p((n - df + 0.5) / (df + 0.5)))
            return out

    def doc_frequency(self, word: str) -> int:
        """How many documents of the project contain `word` (lower-case, exact); 0 before
        the index is built."""
        with self._lock:
            if not self._load():
                return 0
            p = self._postings["exact"]
            t = p.vocab.get(word.lower())
            if t is None:
                return 0
            chunks = p.docs[int(p.indptr[t]) : int(p.indptr[t + 1])]
            return len(np.unique(self._doc_codes[chunks]))

    def search(
        self, query: str, *, k: int, doc_ids: Sequence[str] | None = None
    ) -> dict[str, list[tuple[str, float]]] | None:
        """Best chunks for `query` per variant ('stem', 'exact', 'symbol'): (chunk id, score),
        best first, optionally within documents. None when no index has been built yet."""
        with self._lock:
            if not self._load():
                return None
            mask = None
            if doc_ids is not None:
                wanted = [i for i, d in enumerate(self._doc_names) if d in set(doc_ids)]
                mask = np.isin(self._doc_codes, np.asarray(wanted, dtype=np.int32))
            out = {}
            queries = (*analyze(query), symbol_query(query))
            for variant, words in zip(VARIANTS, queries, strict=True):
                out[variant] = self._rank(self._postings[variant], words, k, mask)
            return out

    def _rank(
        self,
        p: _Postings,
        words: Sequence[str],
        k: int,
        mask: npt.NDArray[np.bool_] | None,
    ) -> list[tuple[str, float]]:
        scores = np.zeros(len(self._chunk_ids), dtype=np.float32)
        # A word the question repeats counts once per repetition (as in bm25s): questions
        # tend to repeat what they are about. Measured on CUAD: +5-10 points at 512 tokens.
        for term, times in Counter(words).items():
            t = p.vocab.get(term)
            if t is None:
                continue
            lo, hi = int(p.indptr[t]), int(p.indptr[t + 1])
            scores[p.docs[lo:hi]] += times * p.scores[lo:hi]  # a chunk appears once per term
        if mask is not None:
            scores[~mask] = 0.0
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        hits = hits[np.argsort(-scores[hits], kind="stable")]
        return [(self._chunk_ids[i], float(scores[i])) for i in hits]
