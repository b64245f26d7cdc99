"""Quality benchmark: evidence recall (CUAD), needles in haystacks, whole-document questions
(QMSum) and the cost of building the summary tree. Same model and budgets for every system.

    .venv/bin/python -m bench.quality [--parts cuad,needles,qmsum,treecost] [--qmsum-meetings 6]

Data from ../shared/bench (or TOMES_BENCH_DIR); each part says "data not found" without it.
Built projects are kept in bench/.work/ (git-ignored) so a re-run does not re-embed or rebuild
trees. Prints one table per part and writes bench/results/quality.json.

CUAD recall is scored with the peer baseline's own scorer (../shared/bench/peers/
llamaindex_cuad.py: norm_robust + min_cover_end: a gold span counts as found when a common
substring covers >= 50% of it), at the same budgets, with both query forms, one contract per
question, so Tomes and the LlamaIndex baseline are judged by the same code.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import resource
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))
WORK = Path(os.environ.get("TOMES_BENCH_WORK", ROOT / "bench" / ".work"))
OUT = ROOT / "bench" / "results" / "quality.json"
BUDGETS = [512, 1024, 2048, 4096]
# Which embedder and dense unit the run measures (--embedder, --dense-unit); every built
# project is kept per variant, so variants are compared on identical ingests.
DENSE: dict[str, str] = {"retrieval.embedder": "auto", "retrieval.dense_unit": "windows"}


def _dense_overrides() -> dict[str, str]:
    return dict(DENSE)


def _variant() -> str:
    return f"{DENSE['retrieval.embedder']}-{DENSE['retrieval.dense_unit']}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *cells, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def _workspace(home: Path, **overrides: Any) -> Any:
    os.environ["TOMES_HOME"] = str(home)
    from engine.settings import Settings
    from engine.workspace import Workspace

    return Workspace(Settings.load(overrides=overrides))


def _count(text: str) -> int:
    from ingest.tokens import cl100k

    return cl100k().count(text)


def _peer_scorer() -> tuple[Callable[[str], str], Callable[[str, str], int | None]]:
    path = BENCH / "peers" / "llamaindex_cuad.py"
    spec = importlib.util.spec_from_file_location("llamaindex_cuad", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.norm_robust, module.min_cover_end


def _index(ws: Any, project: Any, *, tree: bool) -> dict[str, float]:
    """Embed and (optionally) build the tree; returns seconds per phase."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    phase = ""
    for step in ws.index(project, tree=tree):
        if step.phase != phase:
            if phase:
                times[phase] = times.get(phase, 0.0) + time.perf_counter() - t0
            t0 = time.perf_counter()
            phase = step.phase
            print(f"  {phase}…", flush=True)
    if phase:
        times[phase] = times.get(phase, 0.0) + time.perf_counter() - t0
    return times


# ---------------------------------------------------------------------------------- CUAD
MODES = {
    "BM25": {"bm25": True, "dense": False, "tree": False},
    "embeddings": {"bm25": False, "dense": True, "tree": False},
    "hybrid": {"bm25": True, "dense": True, "tree": False},
    "hybrid+tree": {"bm25": True, "dense": True, "tree": True},
}


def cuad(results: dict[str, Any], *, tree: bool = True, chunk_tokens: int = 400) -> None:
    qa = BENCH / "cuad" / "cuad_sample_qa.jsonl"
    if not qa.is_file():
        print("CUAD: data not found")
        return
    norm, min_cover_end = _peer_scorer()
    records = [json.loads(line) for line in qa.read_text().splitlines() if line.strip()]
    overlap = max(10, chunk_tokens // 10)
    home = WORK / f"cuad-{chunk_tokens}-{_variant()}"
    ws = _workspace(
        home,
        **{
            "memory.mode": "extractive",
            "ingest.chunk_tokens": chunk_tokens,
            "ingest.overlap_tokens": overlap,
            **_dense_overrides(),
        },
    )
    project = ws.project("cuad", create=True)
    pdfs = sorted((BENCH / "cuad" / "pdf").glob("*.pdf"))
    list(ws.ingest(project, pdfs, background_index=False))
    index_s = _index(ws, project, tree=tree)
    modes = MODES if tree else {m: f for m, f in MODES.items() if not f["tree"]}
    from engine.qa.packing import pack
    from engine.qa.retrieve import HybridRetriever, Modes

    settings = ws.settings_for(project)
    store = project.open()
    doc_by_name = {d.name: d.id for d in store.documents()}
    ws.embedder()
    base = ws.retriever(store, settings)
    accountings = ("text", "headers")  # text only (the peer's definition) | headers charged too
    hits = {
        (m, q, b, a): 0
        for m in modes
        for q in ("template", "lawyer")
        for b in BUDGETS
        for a in accountings
    }
    # per category, hybrid mode, lawyer form, text accounting: hits at 2k, and for each miss
    # where the gold went (its best chunk's rank in the ranking, or "not ranked")
    per_cat: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for r in records:
        doc_id = doc_by_name[Path(r["pdf_file"]).name]
        golds = [norm(a).strip() for a in r["answers"] if a.strip()]
        details = r["question"].split("Details:", 1)[1].strip()
        queries = {"template": r["question"], "lawyer": f"{r['category']}: {details}"}
        for mode, flags in modes.items():
            retriever = HybridRetriever(
                store,
                lexical=base.lexical,
                dense=base.dense,
                modes=Modes(**flags),
                candidates=settings.retrieval.candidates,
                rrf_k=settings.retrieval.rrf_k,
                fusion=settings.retrieval.fusion,
                scope=[doc_id],
                route="specific",  # clause questions: rank once, pack at every budget
            )
            for form, query in queries.items():
                ranked = retriever.rank(query)
                for budget in BUDGETS:
                    for acc in accountings:
                        items = pack(ranked, budget, count=_count, headers=acc == "headers")
                        text = norm("\n\n".join(i.text for i in items))
                        found = any(min_cover_end(g, text) is not None for g in golds)
                        hits[mode, form, budget, acc] += found
                        if (mode, form, budget, acc) == ("hybrid", "lawyer", 2048, "text"):
                            _track_category(
                                per_cat,
                                r["category"],
                                found,
                                ranked,
                                golds,
                                norm,
                                min_cover_end,
                                _count,
                            )
    elapsed = time.perf_counter() - t0
    store.close()
    ws.close()
    n = len(records)
    peer = _peer_results()
    table: dict[str, Any] = {}
    for acc, title in (
        ("text", "budget = tokens of retrieved text (the peer's definition)"),
        ("headers", "budget = retrieved text + Tomes' per-source header lines (stricter)"),
    ):
        rows = []
        for form in ("template", "lawyer"):
            for mode in modes:
                pct = [100.0 * hits[mode, form, b, acc] / n for b in BUDGETS]
                table[f"{acc}/{mode}/{form}"] = dict(zip(map(str, BUDGETS), pct, strict=True))
                rows.append([f"Tomes {mode}", form, *(f"{p:.1f}%" for p in pct)])
            for name, values in peer.get(form, {}).items():
                rows.append([f"LlamaIndex {name} (peer)", form, *(f"{v:.1f}%" for v in values)])
        print(
            f"\nCUAD evidence recall: {n} clause questions over {len(pdfs)} contracts, one "
            f"contract per question, peer scorer (LCS >= 50% of a gold span); {title}"
        )
        _table(["system", "query", *map(str, BUDGETS)], rows)
    _print_categories(per_cat)
    per_query = 1000 * elapsed / (n * len(modes) * 2)
    print(f"retrieval time: {per_query:.1f} ms per query; index: {index_s} ({_variant()})")
    key = "cuad" if chunk_tokens == 400 else f"cuad_chunks_{chunk_tokens}"
    key = f"{key}/{_variant()}"
    results[key] = {
        "questions": n,
        "chunk_tokens": chunk_tokens,
        "recall_pct": table,
        "peer_pct": peer,
        "index_s": index_s,
        "budget_counts": "header lines and text of every packed item (cl100k tokens)",
        "hybrid_lawyer_2k_by_category": per_cat,
    }


def _track_category(
    per_cat: dict[str, dict[str, Any]],
    category: str,
    found: bool,
    ranked: Sequence[Any],
    golds: Sequence[str],
    norm: Callable[[str], str],
    min_cover_end: Callable[[str, str], int | None],
    count: Callable[[str], int],
) -> None:
    """Count a question's hit or miss under its category; for a miss, record where the gold
    was: the rank of the first candidate holding it and the tokens ranked above it."""
    row = per_cat.setdefault(category, {"questions": 0, "hits": 0, "misses": []})
    row["questions"] += 1
    if found:
        row["hits"] += 1
        return
    tokens = 0
    for rank, item in enumerate(ranked):
        if any(min_cover_end(g, norm(item.text)) is not None for g in golds):
            row["misses"].append({"rank": rank, "tokens_above": tokens})
            return
        tokens += count(item.text)
    # not in any single candidate: never ranked, or spread over two chunks
    row["misses"].append({"rank": None, "tokens_above": None})


def _print_categories(per_cat: dict[str, dict[str, Any]]) -> None:
    rows = []
    for cat, row in sorted(per_cat.items(), key=lambda kv: kv[1]["hits"] / kv[1]["questions"]):
        ranks = [m["rank"] for m in row["misses"] if m["rank"] is not None]
        unranked = sum(m["rank"] is None for m in row["misses"])
        rows.append(
            [
                cat,
                row["questions"],
                f"{100.0 * row['hits'] / row['questions']:.0f}%",
                len(row["misses"]),
                ",".join(str(r) for r in sorted(ranks)) or "-",
                unranked,
            ]
        )
    print("\nCUAD per category (hybrid, lawyer questions, 2k budget, text accounting)")
    _table(["category", "n", "recall", "misses", "miss ranks", "not in one candidate"], rows)


def _peer_results() -> dict[str, dict[str, list[float]]]:
    """The peer's published recall (its README table; 'fill' packing)."""
    return {
        "template": {
            "BM25": [47.9, 60.7, 72.4, 82.3],
            "vector": [35.1, 45.0, 57.2, 70.6],
            "hybrid": [46.8, 59.8, 69.5, 78.4],
        },
        "lawyer": {
            "BM25": [53.2, 66.2, 78.6, 85.7],
            "vector": [41.1, 53.4, 64.9, 76.4],
            "hybrid": [53.9, 64.0, 75.1, 83.7],
        },
    }


# ---------------------------------------------------------------------------------- needles
NEEDLE_SIZES = [32_000, 128_000, 512_000, 1_000_000]
DEPTHS = [i / 10 for i in range(11)]
VAULTS = [
    "Aldermoor",
    "Brackenfell",
    "Corrowden",
    "Dunmarsh",
    "Eskerholt",
    "Fallowmere",
    "Garrowby",
    "Hollinwick",
    "Istermouth",
    "Jessamond",
    "Kelderby",
]


def _needle(i: int) -> tuple[str, str, str]:
    code = f"{(i + 3) * 7919 % 100000:05d}"
    vault = VAULTS[i]
    sentence = (
        f"The access code for the {vault} vault is {code}, and it must never be written down."
    )
    return sentence, f"What is the access code for the {vault} vault?", code


def _haystack_text() -> str | None:
    essays = sorted((BENCH / "niah_essays").glob("*.txt"))
    manual = BENCH / "pdfs" / "fullrefman.pdf"
    if not essays or not manual.is_file():
        return None
    from ingest.readers import read
    from ingest.sources import iter_sources
    from ingest.types import Source

    parts = [p.read_text(errors="replace") for p in essays]
    (src,) = [s for s in iter_sources([manual]) if isinstance(s, Source)]
    parts.append("".join(b.text for b in read(src).blocks))
    return "\n\n".join(parts)


# One-sentence facts and questions that paraphrase them with no content word in common (the
# check below enforces it with the keyword index's own analyzer), planted at sentence
# boundaries. Written for this bench, about nothing the haystack (essays, the R manual) is about.
PARAPHRASES = [
    (
        "The physician told the sailor to drink more water after the voyage.",
        "What did the doctor advise the seaman to consume following the trip?",
    ),
    (
        "Our grandmother bought a small cottage beside the lake in 1962.",
        "In which year did the elderly relative purchase a tiny house near the pond?",
    ),
    (
        "The pilot landed the aircraft safely despite the thunderstorm.",
        "Did the aviator bring the airplane down without harm in spite of the tempest?",
    ),
    (
        "Marta's dog was terrified of the vacuum cleaner.",
        "What home appliance scared the hound?",
    ),
    (
        "The automobile factory closed after the workers went on strike.",
        "Why was the car manufacturing plant shut?",
    ),
    (
        "The chef burned the bread because the oven was too hot.",
        "Why did the cook scorch the loaf?",
    ),
    (
        "Every spring the river floods the meadow near the monastery.",
        "When does the stream overflow the field by the abbey?",
    ),
    (
        "The student forgot her violin on the train to Vienna.",
        "Which instrument did the pupil leave behind on the railway journey?",
    ),
]


def _check_paraphrases() -> None:
    """Fail loudly if a question shares any indexed word (stemmed, as BM25 sees it) with
    its fact."""
    from engine.index.lexical import analyze

    for fact, question in PARAPHRASES:
        shared = set(analyze(fact)[0]) & set(analyze(question)[0])
        if shared:
            raise SystemExit(f"paraphrase needle shares {sorted(shared)}: {question!r}")


def _plant_sentences(text: str, facts: Sequence[tuple[float, str]]) -> str:
    """Insert each fact as its own sentence at the sentence end nearest its depth (0..1)."""
    import re

    end = re.compile(r"[.!?]\s+")
    for depth, fact in sorted(facts, reverse=True):
        m = end.search(text, int(depth * len(text)))
        if m is None:  # past the last sentence end: a sentence of its own at the very end
            text = f"{text.rstrip()} {fact}"
        else:
            text = f"{text[: m.end()]}{fact} {text[m.end() :]}"
    return text


def _context(retriever: Any, question: str) -> str:
    """The 2k-token context a question gets, white space normalized."""
    got = retriever(question, budget=2048, count=_count, exclude=frozenset())
    return " ".join(" ".join(i.text.split()) for i in got.items)


def needles(
    results: dict[str, Any], *, sizes: Sequence[int] = NEEDLE_SIZES, answer_sample: int = 3
) -> None:
    text = _haystack_text()
    if text is None:
        print("needles: data not found (niah_essays/ and pdfs/fullrefman.pdf)")
        return
    _check_paraphrases()
    from ingest.tokens import cl100k

    tok = cl100k()
    ids = tok.encode(text)
    rows, out = [], {}
    for size in sizes:
        if len(ids) < size:
            print(f"needles: haystack has only {len(ids):,} tokens; skipping {size:,}")
            continue
        depths = [i / (len(PARAPHRASES) - 1) for i in range(len(PARAPHRASES))]
        hay = _plant_sentences(
            tok.decode(ids[:size]), [(d, f) for d, (f, _) in zip(depths, PARAPHRASES, strict=True)]
        )
        lines = hay.split("\n")
        needles_ = [_needle(i) for i in range(len(DEPTHS))]
        for depth, (sentence, _, _) in sorted(zip(DEPTHS, needles_, strict=True), reverse=True):
            at = min(len(lines), int(depth * len(lines)))
            lines.insert(at, sentence)
        home = WORK / f"needles2-{size}-{_variant()}"
        ws = _workspace(
            home, **{"model.n_ctx": 4096, "model.max_answer_tokens": 48, **_dense_overrides()}
        )
        project = ws.project("needles", create=True)
        doc = home / f"haystack-{size}.txt"
        if not doc.exists():
            doc.write_text("\n".join(lines))
        # What `tomes ingest` does: read and write, the keyword index, then embeddings.
        t0 = time.perf_counter()
        list(ws.ingest(project, [doc], background_index=False))
        list(ws.build_keywords(project))
        list(ws.build_embeddings(project))
        ingest_s = time.perf_counter() - t0
        store = project.open()
        settings = ws.settings_for(project)
        retriever = ws.retriever(store, settings)  # loads the embedder

        found = sum(sentence in _context(retriever, q) for sentence, q, _ in needles_)
        para_missed = [q for fact, q in PARAPHRASES if fact not in _context(retriever, q)]
        para_found = len(PARAPHRASES) - len(para_missed)
        latencies = []
        for _ in range(3):  # every question, three rounds: the latency a user sees
            for question in [q for _, q, _ in needles_] + [q for _, q in PARAPHRASES]:
                t = time.perf_counter()
                retriever(question, budget=2048, count=_count, exclude=frozenset())
                latencies.append(time.perf_counter() - t)
        store_chunks = len(store.doc_chunks(store.documents()[0].id))
        store.close()
        correct, asked = 0, 0
        step = max(1, len(needles_) // max(1, answer_sample))
        for i in range(0, len(needles_), step)[:answer_sample]:
            _, question, code = needles_[i]
            answer = ws.ask(project, question, overrides={"retrieval.budget": 2048}).result()
            asked += 1
            correct += code in answer.text
        ws.close()
        latencies.sort()
        out[str(size)] = {
            "tokens": size,
            "needles": len(needles_),
            "recall": found / len(needles_),
            "paraphrased": len(PARAPHRASES),
            "paraphrased_recall": para_found / len(PARAPHRASES),
            "paraphrased_missed": para_missed,
            "ingest_s": ingest_s,
            "chunks": store_chunks,
            "retrieve_p50_ms": 1000 * latencies[len(latencies) // 2],
            "retrieve_p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
            "answers_correct": correct,
            "answers_asked": asked,
        }
        rows.append(
            [
                f"{size:,}",
                f"{found}/{len(needles_)}",
                f"{para_found}/{len(PARAPHRASES)}",
                f"{correct}/{asked}",
                f"{ingest_s:.0f}",
                f"{1000 * latencies[len(latencies) // 2]:.0f} / "
                f"{1000 * latencies[int(0.95 * (len(latencies) - 1))]:.0f}",
            ]
        )
        print(
            f"  needles {size:,}: {found}/{len(needles_)} literal, "
            f"{para_found}/{len(PARAPHRASES)} paraphrased in context",
            flush=True,
        )
    print(
        "\nNeedles right after `ingest` (literal: depths 0-100% in 10% steps; paraphrased: no "
        f"content word shared with the question; hybrid retrieval, 2,048-token budget; "
        f"{_variant()})"
    )
    _table(
        [
            "haystack tokens",
            "literal in context",
            "paraphrased in context",
            "answer correct (sampled)",
            "ingest s (read+keywords+embed)",
            "retrieve p50 / p95 ms",
        ],
        rows,
    )
    results[f"needles/{_variant()}"] = out


# ---------------------------------------------------------------------------------- QMSum
class _Leading:
    """A 'retriever' that gives the start of the document: the truncation baseline."""

    def __init__(self, store: Any, doc_id: str) -> None:
        self.store, self.doc_id = store, doc_id

    def __call__(self, question: str, *, budget: int, count: Any, exclude: Any) -> Any:
        from engine.qa.packing import pack, to_items
        from engine.qa.retrieve import Retrieval

        chunks = [(c, 0.0) for c in self.store.doc_chunks(self.doc_id)]
        items = to_items(chunks, 10**9, count=None, order="rank")
        return Retrieval(tuple(pack(items, budget, count=count, order="rank")))

    def leaves(self, item: Any) -> tuple[()]:
        return ()

    def locate(self, item: Any, start: int, end: int) -> Any:
        return item.locator


def qmsum(results: dict[str, Any], *, meetings: int) -> None:
    files = sorted((BENCH / "qmsum" / "test").glob("*.json"))
    if not files:
        print("QMSum: data not found")
        return
    from rouge_score import rouge_scorer

    from engine.qa.answer import ask
    from engine.qa.retrieve import HybridRetriever, Modes

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rng = random.Random(0)
    chosen = sorted(rng.sample(files, min(meetings, len(files))))
    texts = {}
    for f in chosen:
        data = json.loads(f.read_text())
        turns = [f"{t['speaker']}: {t['content']}" for t in data["meeting_transcripts"]]
        texts[f.stem] = ("\n".join(turns), data["general_query_list"])
    out: dict[str, Any] = {}
    for mode in ("extractive", "abstractive"):
        home = WORK / f"qmsum-{mode}"
        overrides = {
            "memory.mode": mode,
            "model.n_ctx": 4096,
            "model.max_answer_tokens": 256,
            "retrieval.budget": 2048,
        }
        ws = _workspace(home, **overrides)
        project = ws.project("qmsum", create=True)
        paths = []
        for name, (text, _) in texts.items():
            path = home / f"{name}.txt"
            if not path.exists():
                path.write_text(text)
            paths.append(path)
        list(ws.ingest(project, paths, background_index=False))
        t0 = time.perf_counter()
        _index(ws, project, tree=True)
        build_s = time.perf_counter() - t0
        settings = ws.settings_for(project)
        store = project.open()
        docs = {d.name.rsplit(".", 1)[0]: d.id for d in store.documents()}
        base = ws.retriever(store, settings)
        scores: dict[str, list[float]] = {"truncate": [], "flat top-k": [], "tree": []}
        for name, (_, queries) in texts.items():
            doc_id = docs[name]
            for q in queries:
                systems = {
                    "truncate": _Leading(store, doc_id),
                    "flat top-k": HybridRetriever(
                        store,
                        lexical=base.lexical,
                        dense=base.dense,
                        modes=Modes(tree=False),
                        scope=[doc_id],
                        route="specific",
                    ),
                    "tree": HybridRetriever(
                        store,
                        lexical=base.lexical,
                        dense=base.dense,
                        scope=[doc_id],
                        route="global",
                    ),
                }
                if mode == "abstractive":
                    systems = {"tree": systems["tree"]}  # the other two do not use the tree
                for system, retriever in systems.items():
                    answer = ask(
                        q["query"], retriever=retriever, models=ws.models, settings=settings
                    ).result()
                    text = answer.text.split("\n\nTomes could not verify")[0]
                    score = scorer.score(q["answer"], text)["rougeL"].fmeasure
                    scores[system].append(score)
                print(f"  {mode} {name}: {q['query'][:50]}", flush=True)
        store.close()
        ws.close()
        out[mode] = {
            "tree_build_s": build_s,
            "rougeL_f": {k: (sum(v) / len(v) if v else None) for k, v in scores.items()},
            "queries": len(scores["tree"]),
        }
    ex, ab = out["extractive"]["rougeL_f"], out["abstractive"]["rougeL_f"]
    rows = [
        ["truncate to budget", f"{ex['truncate']:.3f}", ""],
        ["flat top-k (hybrid)", f"{ex['flat top-k']:.3f}", ""],
        ["tree (extractive level 1)", f"{ex['tree']:.3f}", f"{ex['tree'] / ex['flat top-k']:.2f}x"],
        ["tree (all abstractive)", f"{ab['tree']:.3f}", f"{ab['tree'] / ex['flat top-k']:.2f}x"],
    ]
    n_q = out["extractive"]["queries"]
    print(
        f"\nQMSum general queries: {n_q} queries over {len(texts)} sampled test meetings "
        "(2,048-token context, same model); ROUGE-L F1 against the reference"
    )
    _table(["system", "ROUGE-L F1", "vs flat top-k"], rows)
    results["qmsum"] = {"meetings": sorted(texts), **out}


# ---------------------------------------------------------------------------------- tree cost
def treecost(results: dict[str, Any]) -> None:
    pdfs = sorted((BENCH / "cuad" / "pdf").glob("*.pdf"))
    if not pdfs:
        print("tree cost: data not found")
        return
    from bench.answer import raw_rates
    from engine.index.tree.build import build_tree
    from engine.index.tree.summarize import ModelSummarizer
    from engine.llm.backends import model_identity

    # the CUAD contract closest to 40k tokens (30-50k wanted)
    probe = _workspace(WORK / "treecost-probe")
    project = probe.project("probe", create=True)
    list(probe.ingest(project, pdfs, background_index=False))
    with project.open() as store:
        docs = store.documents()
    pick = min(docs, key=lambda d: abs(d.n_tokens - 40_000))
    path = next(p for p in pdfs if p.name == pick.name)
    probe.close()
    out: dict[str, Any] = {"document": pick.name, "corpus_tokens": pick.n_tokens}
    rows = []
    for mode in ("extractive", "abstractive"):
        home = WORK / f"treecost-{mode}"
        shutil.rmtree(home, ignore_errors=True)
        ws = _workspace(home, **{"memory.mode": mode, "model.n_ctx": 8192})
        project = ws.project("cost", create=True)
        list(ws.ingest(project, [path], background_index=False))
        settings = ws.settings_for(project)
        pp, _ = raw_rates(ws, settings)
        summarizer = ModelSummarizer(settings, ws.models, model_identity(settings))
        with project.open() as store:
            t0 = time.perf_counter()
            last = list(build_tree(store, summarizer, fanout=settings.memory.fanout))[-1]
            wall = time.perf_counter() - t0
        ws.close()
        read = summarizer.model_tokens_read
        out[mode] = {
            "nodes": last.total,
            "model_tokens_read": read,
            "model_tokens_written": summarizer.model_tokens_written,
            "read_per_corpus_token": read / pick.n_tokens,
            "wall_s": wall,
            "corpus_tokens_per_s": pick.n_tokens / wall,
            "model_read_tokens_per_s": read / wall,
            "raw_pp_tokens_per_s": pp,
        }
        rows.append(
            [
                mode,
                last.total,
                f"{read:,}",
                f"{read / pick.n_tokens:.2f}",
                f"{wall:,.0f}",
                f"{pick.n_tokens / wall:,.0f}",
                f"{read / wall:,.0f} / {pp:,.0f}",
            ]
        )
        print(f"  tree cost {mode}: {wall:.0f}s", flush=True)
    print(f"\nTree cost on {pick.name} ({pick.n_tokens:,} tokens), default model, this machine")
    _table(
        [
            "level 1",
            "nodes",
            "model tokens read",
            "read/corpus token",
            "wall s",
            "corpus tok/s",
            "model read tok/s / raw pp",
        ],
        rows,
    )
    results["treecost"] = out


# ---------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="cuad,needles,qmsum,treecost")
    parser.add_argument("--qmsum-meetings", type=int, default=6)
    parser.add_argument("--no-tree", action="store_true", help="CUAD without the summary tree")
    parser.add_argument("--chunk-tokens", type=int, default=400, help="chunk size for CUAD")
    parser.add_argument(
        "--needle-sizes", default=",".join(map(str, NEEDLE_SIZES)), help="haystack tokens"
    )
    parser.add_argument(
        "--embedder", default="auto", choices=["auto", "onnx-int8", "onnx", "numpy", "torch"]
    )
    parser.add_argument("--dense-unit", default="windows", choices=["windows", "chunk"])
    parser.add_argument(
        "--answer-sample", type=int, default=3, help="needle questions answered by the model"
    )
    args = parser.parse_args()
    DENSE.update({"retrieval.embedder": args.embedder, "retrieval.dense_unit": args.dense_unit})
    parts = args.parts.split(",")
    results: dict[str, Any] = {}
    if OUT.is_file():
        results = json.loads(OUT.read_text())
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    if "cuad" in parts:
        cuad(results, tree=not args.no_tree, chunk_tokens=args.chunk_tokens)
    if "needles" in parts:
        needles(
            results,
            sizes=[int(x) for x in args.needle_sizes.split(",")],
            answer_sample=args.answer_sample,
        )
    if "qmsum" in parts:
        qmsum(results, meetings=args.qmsum_meetings)
    if "treecost" in parts:
        treecost(results)
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    if not __package__:  # run as a file, bench/ingest.py would shadow the ingest package
        sys.exit("run it from the repository root: .venv/bin/python -m bench.quality")
    random.seed(0)
    sys.exit(main())
