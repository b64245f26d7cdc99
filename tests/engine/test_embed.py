"""Dense embeddings against the real all-MiniLM-L6-v2 (numpy and torch) and real SQLite."""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from engine.errors import Cancelled
from engine.index.embed import (
    Embedder,
    chunk_input,
    embed_query,
    embed_texts,
    load_embedder,
    text_hash,
)
from engine.index.embed.minilm import MODEL_ID
from engine.index.embed.minilm_numpy import NumpyMiniLM
from engine.index.embed.minilm_torch import TorchMiniLM
from engine.index.embed.pending import embed_pending, pending
from engine.index.embed.vector_index import VectorIndex
from engine.store import ProjectStore
from engine.testing import HashEmbedder
from ingest.types import Block, BlockKind, Chunk, DocKind, Document, Locator

LONG = " ".join(
    f"Section {i}. The Licensee shall pay the Licensor a royalty of {i} percent of net sales, "
    "reported quarterly, and shall keep complete books and records for audit purposes."
    for i in range(1, 40)
)  # ~1,000 wordpieces: truncated to one window, or read as several

PARITY_TEXTS = [
    "hello",
    "",
    "The agreement may be terminated by either party upon thirty (30) days' written notice.",
    "Der Vertrag endet am 31. Dezember; die Kündigung bedarf der Schriftform. Ünïcödé “quotes”.",
    "本契約は、いずれかの当事者が三十日前に書面で通知することにより解除することができる。",
    "Revenue ↑ 12% 🎉 (Q3 FY2024), see §4.2(b)… naïve café résumé",
    "def square(x: int) -> int:\n    return x ** 2  # TODO: overflow?",
    "| Item | Qty | Price |\n| --- | --- | --- |\n| Widget | 4 | $9.99 |",
    "TERMINATION FOR CONVENIENCE. GOVERNING LAW: DELAWARE.",
    LONG,
]


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def numpy_model() -> NumpyMiniLM:
    return NumpyMiniLM()


@pytest.fixture(scope="module")
def torch_model() -> TorchMiniLM:
    return TorchMiniLM()


class Counting:
    """An Embedder that records every text it is asked to embed (a real subclass-free proxy:
    the protocol is structural)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.seen: list[str] = []

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return self.inner.embed(texts)

    def windows(self, text: str, *, limit: int) -> list[tuple[str, int]]:
        return self.inner.windows(text, limit=limit)


def add_doc(
    store: ProjectStore, texts: list[str], *, name: str, heading: tuple[str, ...] = ()
) -> str:
    """Store one document whose chunks are `texts`; returns its id."""
    doc_id = hashlib.sha256(("\x00".join(texts) + name).encode()).hexdigest()
    blocks = [
        Block(t, Locator(doc_id=doc_id, page=i, heading_path=heading), BlockKind.PAGE)
        for i, t in enumerate(texts, 1)
    ]
    chunks = [
        Chunk(doc_id, i, b.text, len(b.text.split()), b.locator) for i, b in enumerate(blocks)
    ]
    doc = Document(doc_id, name, DocKind.PDF, f"/x/{name}", iter(blocks), size_bytes=10)
    seen: list[Block] = []

    def stream() -> Iterator[tuple[Chunk, str]]:
        for b, c in zip(doc.blocks, chunks, strict=True):
            seen.append(b)
            yield c, "[]"

    store.add_document(doc, stream(), seen)
    return doc_id


def add_node(store: ProjectStore, doc_id: str, ordinal: int, text: str) -> int:
    with store.transaction():
        cur = store.db.execute(
            "INSERT INTO nodes (doc_id, level, ordinal, chunk_start, chunk_end, child_ids, "
            "children_hash, text, n_tokens, made_by, created_at) "
            "VALUES (?, 1, ?, 0, 0, '[]', '', ?, 10, 'test', ?)",
            [doc_id, ordinal, text, datetime.now(UTC).isoformat()],
        )
    return int(cur.lastrowid or 0)


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


# ---------------------------------------------------------------------------- models
def test_import_does_not_import_torch() -> None:
    code = (
        "import sys, engine.index.embed, engine.index.embed.minilm_numpy\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_load_embedder_falls_back_and_explains() -> None:
    code = """
import sys
import tempfile
sys.modules["torch"] = None  # as in the torch-less desktop bundle
from engine.index.embed.minilm_numpy import NumpyMiniLM
from engine.index.embed.minilm_onnx import OnnxMiniLM
from engine.index.embed import load_embedder
from engine.errors import BackendUnavailable
cache = tempfile.mkdtemp()
assert isinstance(load_embedder(cache_dir=cache), OnnxMiniLM)
sys.modules["onnxruntime"] = None  # no ONNX Runtime: the numpy forward pass
assert isinstance(load_embedder(cache_dir=tempfile.mkdtemp()), NumpyMiniLM)
try:
    load_embedder(prefer="torch")
except BackendUnavailable as exc:
    assert "prefer='numpy'" in str(exc), exc
else:
    raise AssertionError("torch loaded without torch")
sys.modules["safetensors.numpy"] = None  # and now numpy's needs are missing too
try:
    load_embedder(cache_dir=tempfile.mkdtemp())
except BackendUnavailable as exc:
    assert "safetensors" in str(exc) and "TOMES_RETRIEVAL_EMBEDDINGS=false" in str(exc), exc
else:
    raise AssertionError("an embedder loaded without its packages")
"""
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_numpy_matches_torch(numpy_model: NumpyMiniLM, torch_model: TorchMiniLM) -> None:
    assert len(numpy_model.windows(LONG, limit=10)) > 2  # LONG really exceeds one window
    a = numpy_model.embed(PARITY_TEXTS)
    b = torch_model.embed(PARITY_TEXTS)
    assert a.shape == b.shape == (len(PARITY_TEXTS), 384)
    assert a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    sims = cos(a, b)
    assert sims.min() >= 0.9999, dict(zip(PARITY_TEXTS, sims.round(6), strict=True))
    # Windowed chunk vectors agree too (same windows, same weights).
    wa = embed_texts(numpy_model, [LONG, "short"], windows=2)
    wb = embed_texts(torch_model, [LONG, "short"], windows=2)
    assert cos(wa, wb).min() >= 0.9999


def test_both_implement_the_protocol(numpy_model: NumpyMiniLM, torch_model: TorchMiniLM) -> None:
    for emb in (numpy_model, torch_model, HashEmbedder()):
        assert isinstance(emb, Embedder)
    assert numpy_model.model_id == torch_model.model_id == MODEL_ID
    assert numpy_model.dim == 384 and numpy_model.max_tokens == 256
    assert numpy_model.embed([]).shape == (0, 384)
    assert torch_model.embed([]).shape == (0, 384)
    assert isinstance(load_embedder(prefer="numpy"), NumpyMiniLM)
    with pytest.raises(ValueError, match="prefer"):
        load_embedder(prefer="gpu")


def test_windows_are_consecutive_word_aligned_and_fit(numpy_model: NumpyMiniLM) -> None:
    pieces = numpy_model.windows(LONG, limit=3)
    assert len(pieces) == 3
    assert all(0 < n <= numpy_model.max_tokens - 2 for _, n in pieces)
    # Each piece re-tokenizes to the count reported (no word cut in half) …
    for text, n in pieces:
        assert len(numpy_model._pieces.ids([text])[0]) == n + 2
    # … and the pieces follow each other through the text.
    pos = 0
    for text, _ in pieces:
        at = LONG.index(text, pos)
        assert LONG[pos:at].strip() == ""
        pos = at + len(text)
    assert numpy_model.windows("short text", limit=2) == [("short text", 2)]
    assert numpy_model.windows("", limit=2) == [("", 0)]
    assert chunk_input("body", ["Terms", " Termination "]) == "Terms > Termination: body"
    assert chunk_input("body", []) == "body"


def test_second_window_changes_long_chunks_only(numpy_model: NumpyMiniLM) -> None:
    one = embed_texts(numpy_model, [LONG, "A short clause."], windows=1)
    two = embed_texts(numpy_model, [LONG, "A short clause."], windows=2)
    np.testing.assert_allclose(one[1], two[1], atol=1e-6)
    assert 0.5 < float(cos(one[0], two[0])) < 0.99999
    np.testing.assert_allclose(np.linalg.norm(two, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        embed_texts(numpy_model, ["x"], windows=0)


def test_semantic_sanity(tmp_path: Path, numpy_model: NumpyMiniLM) -> None:
    texts = [
        "Either party may end this contract at any time by giving the other party ninety "
        "days' written notice; upon expiry of the notice period all licenses cease.",
        "The Supplier shall deliver the goods to the Buyer's warehouse in Rotterdam, "
        "packed on pallets and labelled with the purchase order number.",
        "Invoices are payable within thirty days of receipt by bank transfer in euros.",
        "The recipe calls for two cups of flour, a pinch of salt and three eggs.",
        "This Agreement is governed by the laws of the State of New York.",
    ]
    with ProjectStore(tmp_path / "p.db") as store:
        add_doc(store, texts, name="c.pdf")
        list(embed_pending(store, numpy_model))
        index = VectorIndex(store, MODEL_ID)
        hits = index.search(embed_query(numpy_model, "termination of the agreement"), k=5)
        by_ref = {ref: text for ref, text in store.db.execute("SELECT id, text FROM chunks")}
        assert by_ref[hits[0][1]].startswith("Either party may end this contract")
        assert [h[2] for h in hits] == sorted((h[2] for h in hits), reverse=True)
        assert hits[0][2] - hits[-1][2] > 0.2


# ---------------------------------------------------------------------------- the store
def test_embed_pending_cancel_and_resume(tmp_path: Path, numpy_model: NumpyMiniLM) -> None:
    texts = [
        f"Clause {i}: the parties agree on item number {i} of schedule {i % 7}." for i in range(50)
    ]
    with ProjectStore(tmp_path / "p.db") as store:
        add_doc(store, texts, name="fifty.pdf", heading=("Schedule", "Items"))
        assert pending(store, MODEL_ID) == 50
        emb = Counting(numpy_model)
        cancel = threading.Event()
        run = embed_pending(store, emb, batch_size=16, cancel=cancel)
        first = next(run)
        cancel.set()
        assert first == (16, 50)
        with pytest.raises(Cancelled):  # stops between batches, like every long job
            list(run)
        assert pending(store, MODEL_ID) == 34

        progress = list(embed_pending(store, emb, batch_size=16))
        assert progress == [(16, 34), (32, 34), (34, 34)]
        assert len(emb.seen) == 50 and len(set(emb.seen)) == 50  # nothing embedded twice
        assert emb.seen[0] == chunk_input(texts[0], ["Schedule", "Items"])
        assert pending(store, MODEL_ID) == 0
        assert list(embed_pending(store, emb)) == []
        rows = store.db.execute(
            "SELECT kind, doc_id, model, dim, length(vector), text_hash FROM embeddings"
        ).fetchall()
        assert len(rows) == 50
        assert {r[:5] for r in rows} == {("chunk", rows[0][1], MODEL_ID, 384, 384 * 4)}
        assert text_hash(emb.seen[0]) in {r[5] for r in rows}


def test_progress_is_monotonic_when_chunks_arrive(tmp_path: Path) -> None:
    emb = HashEmbedder()
    with ProjectStore(tmp_path / "p.db") as store:
        add_doc(store, [f"first {i}" for i in range(10)], name="a.pdf")
        run = embed_pending(store, emb, batch_size=4)
        seen = [next(run)]
        add_doc(store, [f"second {i}" for i in range(10)], name="b.pdf")  # arrives mid-run
        seen += list(run)
        assert all(a[0] < b[0] and a[1] <= b[1] for a, b in itertools.pairwise(seen))
        assert all(done <= total for done, total in seen)
        assert seen[-1] == (20, 20) and pending(store, emb.model_id) == 0


def test_rewritten_node_is_embedded_again(tmp_path: Path, numpy_model: NumpyMiniLM) -> None:
    with ProjectStore(tmp_path / "p.db") as store:
        doc_id = add_doc(store, ["Payment terms are thirty days."], name="a.pdf")
        node = add_node(store, doc_id, 0, "Summary: payment is due in thirty days.")
        assert pending(store, MODEL_ID) == 2
        list(embed_pending(store, numpy_model))
        assert pending(store, MODEL_ID) == 0

        def stored() -> tuple[bytes, str]:
            return store.db.execute(
                "SELECT vector, text_hash FROM embeddings WHERE kind = 'node' AND ref = ?",
                [str(node)],
            ).fetchone()

        old_vec, old_hash = stored()
        new_text = "Summary: the licence may be terminated for material breach."
        with store.transaction():
            store.db.execute("UPDATE nodes SET text = ? WHERE id = ?", [new_text, node])
        assert pending(store, MODEL_ID) == 1
        emb = Counting(numpy_model)
        assert list(embed_pending(store, emb)) == [(1, 1)]
        assert emb.seen == [new_text]
        new_vec, new_hash = stored()
        assert new_hash == text_hash(new_text) != old_hash and new_vec != old_vec
        index = VectorIndex(store, MODEL_ID)
        hits = index.search(embed_query(numpy_model, "termination for breach"), k=1, kind="node")
        assert hits[0][:2] == ("node", str(node)) and hits[0][2] > 0.5


def test_vector_index_refreshes_filters_and_forgets(tmp_path: Path) -> None:
    emb = HashEmbedder()
    with ProjectStore(tmp_path / "p.db") as store:
        a = add_doc(store, ["apples and pears", "cars and trucks"], name="a.pdf")
        list(embed_pending(store, emb))
        index = VectorIndex(store, emb.model_id)
        assert len(index) == 2
        q = embed_query(emb, "apples")
        assert index.search(q, k=1)[0][1] == f"{a[:16]}:0"

        b = add_doc(store, ["apples apples apples"], name="b.pdf")
        node = add_node(store, b, 0, "apples summary")
        list(embed_pending(store, emb))
        hits = index.search(q, k=10)
        assert len(index) == 4 and len(hits) == 4
        assert {h[0] for h in index.search(q, k=10, kind="node")} == {"node"}
        assert index.search(q, k=10, kind="node")[0][1] == str(node)
        assert {h[0] for h in index.search(q, k=10, kind="chunk")} == {"chunk"}
        # Searching within documents (a question about one contract).
        only_a = index.search(q, k=10, doc_ids=[a])
        assert only_a and all(h[1].startswith(a[:16]) for h in only_a)
        assert [h[1] for h in index.search(q, k=10, doc_ids=[b])] == [
            h[1] for h in hits if h[1] == str(node) or h[1].startswith(b[:16])
        ]
        assert index.search(q, k=0) == []
        with pytest.raises(ValueError):
            index.search(q, k=1, kind="page")
        # Another model's vectors are invisible.
        assert VectorIndex(store, "other-model").search(q, k=5) == []

        store.remove_document(b)  # deletes its chunks, nodes' vectors and chunk vectors
        hits = index.search(q, k=10)
        assert len(index) == 2 and all(not h[1].startswith(b[:16]) for h in hits)

        # A node deleted by the tree builder (its vector left behind) is never returned,
        # and the next embed_pending prunes the orphan vector.
        node2 = add_node(store, a, 0, "apples orchard summary")
        list(embed_pending(store, emb))
        assert any(h[1] == str(node2) for h in index.search(q, k=10))
        with store.transaction():
            store.db.execute("DELETE FROM nodes WHERE id = ?", [node2])
        assert all(h[1] != str(node2) for h in index.search(q, k=10))
        list(embed_pending(store, emb))
        assert store.db.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 2
        assert len(index) == 2


def test_vector_index_sees_another_connections_writes_and_float16(tmp_path: Path) -> None:
    emb = HashEmbedder()
    path = tmp_path / "p.db"
    with ProjectStore(path) as reader, ProjectStore(path) as writer:
        index = VectorIndex(reader, emb.model_id, dtype=np.float16)
        assert len(index) == 0
        add_doc(writer, ["alpha beta", "gamma delta"], name="a.pdf")
        list(embed_pending(writer, emb))
        hits = index.search(embed_query(emb, "gamma"), k=1)
        assert hits[0][1].endswith(":1") and hits[0][2] == pytest.approx(0.707, abs=2e-3)
        node = add_node(writer, "", 0, "gamma")
        list(embed_pending(writer, emb))
        assert index.search(embed_query(emb, "gamma"), k=1, kind="node")[0][1] == str(node)
        # The table's last row goes (its node was deleted) and a new one comes: SQLite alone
        # would give the new row the freed rowid, and the index would not see the change.
        with writer.transaction():
            writer.db.execute("DELETE FROM nodes WHERE id = ?", [node])
        b = add_doc(writer, ["epsilon"], name="b.pdf")
        list(embed_pending(writer, emb))
        assert index.search(embed_query(emb, "epsilon"), k=1)[0][1] == f"{b[:16]}:0"
        # A rewritten node: its row is replaced, the index swaps the vector.
        node = add_node(writer, "", 0, "gamma")
        list(embed_pending(writer, emb))
        with writer.transaction():
            writer.db.execute("UPDATE nodes SET text = 'alpha' WHERE id = ?", [node])
        list(embed_pending(writer, emb))
        top = index.search(embed_query(emb, "alpha"), k=1, kind="node")[0]
        assert top[1] == str(node) and top[2] == pytest.approx(1.0, abs=2e-3)
        assert len(index) == 4


def test_keyword_search_and_writes_proceed_between_batches(tmp_path: Path) -> None:
    emb = HashEmbedder()
    path = tmp_path / "p.db"
    with ProjectStore(path) as store:
        add_doc(store, [f"termination clause {i}" for i in range(20)], name="a.pdf")
        run = embed_pending(store, emb, batch_size=5)
        next(run)  # paused between batches, generator alive
        other = sqlite3.connect(str(path), timeout=0.1)  # would fail fast if locked
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO meta(key, value) VALUES ('probe', '1')")
            other.commit()
        finally:
            other.close()
        with ProjectStore(path) as reader:
            assert len(reader.search("termination", limit=50)) == 20
        assert list(run)[-1] == (20, 20)


def test_heading_path_is_read_from_chunks(tmp_path: Path) -> None:
    emb = Counting(HashEmbedder())
    with ProjectStore(tmp_path / "p.db") as store:
        add_doc(store, ["body text"], name="h.pdf", heading=("Part II", "Fees"))
        list(embed_pending(store, emb))
        heads = json.loads(store.db.execute("SELECT heading_path FROM chunks").fetchone()[0])
        assert heads == ["Part II", "Fees"]
        assert emb.seen == ["Part II > Fees: body text"]


# ---------------------------------------------------------------------------- sentence windows
def test_window_rows_hold_every_window_and_search_scores_the_best(tmp_path: Path) -> None:
    from engine.index.embed import vector_model

    emb = HashEmbedder(dim=256)
    filler = " ".join(f"Payment schedule item {i} is due on the listed date." for i in range(30))
    texts = [
        f"{filler} The lighthouse keeper painted the lantern room blue. {filler}",
        filler,
        "Short chunk about invoices.",
    ]
    with ProjectStore(tmp_path / "p.db") as store:
        doc = add_doc(store, texts, name="w.pdf")
        list(embed_pending(store, emb, unit="windows", window_words=12))
        model = vector_model(emb.model_id, "windows")
        assert model != emb.model_id  # never searched as one-vector-per-chunk rows
        assert pending(store, model) == 0 and pending(store, emb.model_id) == 3
        index = VectorIndex(store, model)
        assert len(index) > 3 * 2  # several windows per long chunk, plus their means
        q = embed_query(emb, "lighthouse keeper painted lantern room")
        hits = index.search(q, k=3)
        by_ref = {ref: text for ref, text in store.db.execute("SELECT id, text FROM chunks")}
        assert "lighthouse" in by_ref[hits[0][1]]
        assert len({ref for _, ref, _ in hits}) == len(hits) == 3  # one hit per chunk
        # the best window matches far better than the chunk as a whole would
        whole = VectorIndex(store, emb.model_id)
        list(embed_pending(store, emb, unit="chunk"))
        assert hits[0][2] > whole.search(q, k=1)[0][2] + 0.2
        store.remove_document(doc)
        assert index.search(q, k=3) == [] and len(index) == 0
