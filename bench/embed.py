"""Embedding benchmark: all-MiniLM-L6-v2 on torch, plain numpy and ONNX Runtime (fp32, int8).

    .venv/bin/python -m bench.embed [--chunks 200] [--repeat 2] [--rounds 2]

Corpus: ~400-token (cl100k) chunks cut from the CUAD contracts in ../shared/bench/cuad/txt (or
TOMES_BENCH_DIR/cuad/txt); if that folder is missing it says "data not found" and uses
synthetic contract-like text. Each backend runs in a fresh subprocess, so load time and peak
RSS are its own and torch's worker threads never compete with numpy's.

Reports chunks/s at windows=1 and windows=2 (best of --rounds processes × --repeat passes,
alternated so that load from other processes hits every row alike), load time, peak RSS, the
numpy-vs-torch cosine on the same chunks, `embed_pending` end to end into a real project
store, and `VectorIndex` load/search time at 100k vectors. Prints a table and writes
bench/results/embed.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))
OUT = ROOT / "bench" / "results" / "embed.json"
CHUNK_TOKENS = 400
BATCH = 32  # embed_pending's default batch
BACKENDS = ("torch", "numpy", "onnx", "onnx-int8")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------- corpus
def _synthetic(n_tokens: int) -> str:
    rng = random.Random(7)
    words = (
        "agreement party parties licensee licensor shall may terminate termination notice "
        "written days royalty payment invoice confidential information obligations warranty "
        "liability indemnify governing law court dispute arbitration assignment consent term "
        "renewal breach cure period effective date schedule exhibit section clause"
    ).split()
    out = []
    for i in range(n_tokens // 12):
        out.append(f"{i}. " + " ".join(rng.choice(words) for _ in range(12)).capitalize() + ".")
    return " ".join(out)


def make_chunks(n: int) -> tuple[list[str], str]:
    """`n` chunks of CHUNK_TOKENS cl100k tokens, spread over the corpus; and the source name."""
    from ingest.tokens import cl100k

    tok = cl100k()
    folder = BENCH / "cuad" / "txt"
    files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    if files:
        source = f"CUAD ({len(files)} contracts in {folder})"
        texts = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    else:
        print(f"data not found: {folder}; using synthetic text")
        source = "synthetic"
        texts = [_synthetic(CHUNK_TOKENS * (n + 1))]
    pieces: list[list[str]] = []
    for text in texts:
        ids = tok.encode(text)
        pieces.append(
            [
                tok.decode(ids[i : i + CHUNK_TOKENS])
                for i in range(0, len(ids) - CHUNK_TOKENS // 2, CHUNK_TOKENS)
            ]
        )
    # Round-robin over documents so every contract contributes.
    chunks: list[str] = []
    while len(chunks) < n and any(pieces):
        for p in pieces:
            if p and len(chunks) < n:
                chunks.append(p.pop(0))
    return chunks, source


# ---------------------------------------------------------------------------------- workers
def _load(kind: str, cache: str) -> object:
    from engine.index.embed.minilm_numpy import NumpyMiniLM
    from engine.index.embed.minilm_torch import TorchMiniLM

    if kind == "torch":
        return TorchMiniLM()
    if kind == "numpy":
        return NumpyMiniLM()
    from engine.index.embed.minilm_onnx import OnnxMiniLM

    return OnnxMiniLM(Path(cache), quantize=kind == "onnx-int8")


def worker_model(
    kind: str, chunks_file: str, repeat: int, vectors_out: str, cache: str
) -> dict[str, object]:
    import numpy as np

    from engine.index.embed import embed_texts
    from engine.index.embed.windows import sentence_windows

    chunks = json.loads(Path(chunks_file).read_text())
    t0 = time.perf_counter()
    emb = _load(kind, cache)
    load_s = time.perf_counter() - t0
    embed_texts(emb, chunks[:8], windows=2)  # warm up (thread pools, allocator)
    wordpieces = [sum(n for _, n in emb.windows(c, limit=100)) for c in chunks]
    windows = [[c[a:b] for a, b in sentence_windows(c)] for c in chunks]
    out: dict[str, object] = {
        "backend": kind,
        "load_s": round(load_s, 3),
        "wordpieces_mean": round(sum(wordpieces) / len(wordpieces), 1),
        "with_second_window": round(
            sum(len(emb.windows(c, limit=2)) > 1 for c in chunks) / len(chunks), 3
        ),
        "sentence_windows_mean": round(sum(map(len, windows)) / len(windows), 1),
    }
    best = {"w1": float("inf"), "w2": float("inf"), "sw": float("inf")}
    for _ in range(repeat):
        for mode in best:  # alternate, so a burst of outside load hits every mode alike
            t = time.perf_counter()
            if mode == "sw":  # every sentence window of every chunk, BATCH chunks a call
                for i in range(0, len(chunks), BATCH):
                    emb.embed([w for ws in windows[i : i + BATCH] for w in ws])
            else:
                vecs = [
                    embed_texts(emb, chunks[i : i + BATCH], windows=int(mode[1]))
                    for i in range(0, len(chunks), BATCH)
                ]
                if mode == "w2":
                    np.save(vectors_out, np.concatenate(vecs))
            best[mode] = min(best[mode], time.perf_counter() - t)
    for mode, seconds in best.items():
        out[f"chunks_per_s_{mode}"] = round(len(chunks) / seconds, 2)
    out["peak_rss_mb"] = round(_peak_mb(), 1)
    return out


def worker_pending(chunks_file: str, home: str) -> dict[str, object]:
    """embed_pending end to end (numpy, windows=2) into a real store: SQLite reads, writes."""
    from engine.index.embed import embed_texts
    from engine.index.embed.minilm_numpy import NumpyMiniLM
    from engine.index.embed.pending import embed_pending
    from engine.store import ProjectStore
    from ingest.types import Block, BlockKind, Chunk, DocKind, Document, Locator

    chunks = json.loads(Path(chunks_file).read_text())
    emb = NumpyMiniLM()
    embed_texts(emb, chunks[:8])  # warm up, as worker_model does
    doc_id = hashlib.sha256("".join(chunks).encode()).hexdigest()
    blocks = [
        Block(t, Locator(doc_id=doc_id, page=i), BlockKind.PAGE) for i, t in enumerate(chunks, 1)
    ]
    doc = Document(doc_id, "bench.pdf", DocKind.PDF, "/bench.pdf", iter(blocks), size_bytes=1)
    seen: list[Block] = []

    def stream():  # type: ignore[no-untyped-def]
        for i, b in enumerate(doc.blocks):
            seen.append(b)
            yield Chunk(doc_id, i, b.text, CHUNK_TOKENS, b.locator), "[]"

    with ProjectStore(Path(home) / "bench.db") as store:
        store.add_document(doc, stream(), seen)
        t = time.perf_counter()
        steps = list(embed_pending(store, emb))
        dt = time.perf_counter() - t
    return {
        "chunks": steps[-1][0],
        "chunks_per_s": round(steps[-1][0] / dt, 2),
        "batches": len(steps),
        "peak_rss_mb": round(_peak_mb(), 1),
    }


def worker_index(home: str, n: int) -> dict[str, object]:
    """VectorIndex over `n` random unit vectors written straight into the table."""
    import numpy as np

    from engine.index.embed.vector_index import VectorIndex
    from engine.store import ProjectStore

    rng = np.random.default_rng(0)
    with ProjectStore(Path(home) / "index.db") as store:
        with store.transaction():
            store.db.execute(
                "INSERT INTO documents (id, name, source_key, kind, size_bytes, added_at) "
                "VALUES ('d', 'd', 'd', 'text', 0, '')"
            )
            for start in range(0, n, 10_000):
                vecs = rng.standard_normal((min(10_000, n - start), 384)).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                refs = [f"d:{start + i}" for i in range(len(vecs))]
                store.db.conn.executemany(
                    "INSERT INTO chunks (id, doc_id, ordinal, text, n_tokens) "
                    "VALUES (?, 'd', ?, 'x', 1)",
                    [(ref, start + i) for i, ref in enumerate(refs)],
                )
                store.db.conn.executemany(
                    "INSERT INTO embeddings (kind, ref, doc_id, model, dim, vector, text_hash) "
                    "VALUES ('chunk', ?, 'd', 'm', 384, ?, '')",
                    [(ref, v.tobytes()) for ref, v in zip(refs, vecs, strict=True)],
                )
        out: dict[str, object] = {"vectors": n}
        for dtype in ("float32", "float16"):
            index = VectorIndex(store, "m", dtype=getattr(np, dtype))
            t = time.perf_counter()
            index.refresh()
            out[f"load_s_{dtype}"] = round(time.perf_counter() - t, 3)
            q = rng.standard_normal(384).astype(np.float32)
            index.use(store)  # forget the change stamp: time the refresh check too
            t = time.perf_counter()
            for _ in range(10):
                index.search(q, k=20)
            out[f"search_ms_{dtype}"] = round((time.perf_counter() - t) * 100, 2)
        out["peak_rss_mb"] = round(_peak_mb(), 1)
    return out


def _best(old: dict[str, object] | None, new: dict[str, object]) -> dict[str, object]:
    """Merge two runs of one backend: fastest load and throughput, largest peak RSS."""
    if old is None:
        return new
    out = dict(new)
    for key, value in old.items():
        if key.startswith("chunks_per_s"):
            out[key] = max(float(value), float(new[key]))  # type: ignore[arg-type]
        elif key == "load_s":
            out[key] = min(float(value), float(new[key]))  # type: ignore[arg-type]
        elif key == "peak_rss_mb":
            out[key] = max(float(value), float(new[key]))  # type: ignore[arg-type]
    return out


def _run_worker(args: list[str]) -> dict[str, object]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.embed", "--worker", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="timed passes per process")
    parser.add_argument("--rounds", type=int, default=2, help="processes per backend")
    parser.add_argument("--index-vectors", type=int, default=100_000)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind in BACKENDS:
            result = worker_model(kind, rest[0], int(rest[1]), rest[2], rest[3])
        elif kind == "pending":
            result = worker_pending(rest[0], rest[1])
        else:
            result = worker_index(rest[0], int(rest[1]))
        print(json.dumps(result))
        return

    import numpy as np

    load_before = os.getloadavg()[0]
    chunks, source = make_chunks(args.chunks)
    with tempfile.TemporaryDirectory() as tmp:
        chunks_file = Path(tmp) / "chunks.json"
        chunks_file.write_text(json.dumps(chunks))
        rows: dict[str, dict[str, object]] = {}
        for _ in range(args.rounds):  # alternate backends too; keep each one's best
            for kind in BACKENDS:
                row = _run_worker(
                    [
                        kind,
                        str(chunks_file),
                        str(args.repeat),
                        str(Path(tmp) / f"{kind}.npy"),
                        str(Path(tmp) / "onnx-cache"),
                    ]
                )
                rows[kind] = _best(rows.get(kind), row)
        ref = np.load(Path(tmp) / "torch.npy")
        parity = {}
        for kind in BACKENDS[1:]:
            cos = np.sum(ref * np.load(Path(tmp) / f"{kind}.npy"), axis=1)
            parity[kind] = {"min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())}
        pending_row = _run_worker(["pending", str(chunks_file), tmp])
        index_row = _run_worker(["index", tmp, str(args.index_vectors)])

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "load_avg_before": load_before,
            "load_avg_after": os.getloadavg()[0],
        },
        "corpus": {"source": source, "chunks": len(chunks), "cl100k_tokens": CHUNK_TOKENS},
        "backends": rows,
        "parity_w2_vs_torch": parity,
        "embed_pending_numpy_w2": pending_row,
        "vector_index": index_row,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")

    print(f"corpus: {source}; {len(chunks)} chunks of {CHUNK_TOKENS} cl100k tokens")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (other processes make numbers vary)"
    )
    w = rows["numpy"]
    print(
        f"wordpieces per chunk: {w['wordpieces_mean']} mean; "
        f"{w['with_second_window']:.0%} need a second window"
    )
    print()
    print(
        f"{'backend':<10} {'load s':>7} {'w=1 ch/s':>9} {'w=2 ch/s':>9} {'windows ch/s':>13} "
        f"{'vs numpy w=2':>13} {'RSS MB':>7} {'cos vs torch':>13}"
    )
    base = float(rows["numpy"]["chunks_per_s_w2"])  # type: ignore[arg-type]
    for kind, r in rows.items():
        w1, w2, sw = (float(r[f"chunks_per_s_{m}"]) for m in ("w1", "w2", "sw"))  # type: ignore[arg-type]
        cos = f"{parity[kind]['min_cosine']:.4f}" if kind in parity else "(reference)"
        print(
            f"{kind:<10} {r['load_s']:>7} {w1:>9.1f} {w2:>9.1f} {sw:>13.1f} "
            f"{max(w2, sw) / base:>12.2f}x {r['peak_rss_mb']:>7} {cos:>13}"
        )
    print("(windows = every sentence window of each chunk, ~48 words each; cos = min over chunks)")
    print()
    print(
        f"embed_pending (numpy, w=2, real store): {pending_row['chunks_per_s']} chunks/s, "
        f"peak RSS {pending_row['peak_rss_mb']} MB"
    )
    print(
        f"VectorIndex, {index_row['vectors']:,} vectors: load {index_row['load_s_float32']} s, "
        f"search {index_row['search_ms_float32']} ms (float32); load "
        f"{index_row['load_s_float16']} s, search {index_row['search_ms_float16']} ms (float16)"
    )
    print(f"\nwrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    if not __package__:  # run as a file, bench/ingest.py would shadow the ingest package
        sys.exit("run it from the repository root: .venv/bin/python -m bench.embed")
    main()
