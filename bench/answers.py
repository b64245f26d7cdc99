"""Answer benchmark: are the answers right, cited to the right place, and fast?

    .venv/bin/python -m bench.answers [--systems new,old,peer] [--contracts 20]
        [--categories value,yesno] [--yesno 33] [--parts cuad,leval,quality,code]

CUAD (../shared/bench/cuad, or TOMES_BENCH_DIR): the 20 contracts in ONE project, each question
asked of one contract the way a user scopes it (`--document`). Questions are CUAD's own
category descriptions (four phrased as questions, see bench/cuad_gold.py). Scored by
bench/cuad_gold.py, the same code for every system:
- value accuracy per category (the 8 value categories: dates, periods, law, names), over the
  contracts where CUAD's lawyers found the clause, and over all contracts (where a clause is
  absent, "not found" is the right answer);
- Yes/No categories as presence: found vs CUAD has spans of that category;
- citation precision: a cited span overlaps a CUAD gold span of the category (the peer's
  scorer: a common substring covering >= 50% of either);
- unsupported-claim rate: answers with a sentence removed or a citation not verified;
- cross-document citations: a citation outside the question's document (must be 0);
- TTFT p50/p90 (an answer decided without the model counts its total time).

Systems, same questions, same embedded model, same machine, in one run:
- `new`: this tree's evidence-first answer path;
- `old`: Tomes' previous answer path (the source at OLD_REV, exported to bench/.work/old-src
  and run in a subprocess: 2k-token chunk context, one-shot prompt, no document scope);
- `peer`: LlamaIndex's query engine (BM25 + MiniLM vectors fused, top-k to the same token
  budget) with the same GGUF served by llama_cpp.server, from the peer venv of
  ../shared/bench/peers/README.md (PEER_PYTHON, default /tmp/peer-venv/bin/python) plus
  `pip install llama-index-llms-openai-like`. Missing: it says so and skips.
Prints tables and writes bench/results/answers.json. Work (projects, old source) is kept in
bench/.work/.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))
WORK = Path(os.environ.get("TOMES_BENCH_WORK", ROOT / "bench" / ".work"))
OUT = ROOT / "bench" / "results" / "answers.json"
OLD_REV = "5692b27"  # main before evidence-first answering (issue 11)
PROJECT = "cuad-20"


@dataclass
class Record:
    """One question asked of one system, and how it scored."""

    system: str
    contract: str
    category: str
    question: str
    answer: str
    state: str
    citations: list[dict[str, Any]]
    ttft: float
    total: float
    correct: bool | None = None
    cited_gold: bool | None = None
    unsupported: bool = False
    cross_doc: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *cells, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)), flush=True)


def _peer_scorer() -> tuple[Any, Any]:
    path = BENCH / "peers" / "llamaindex_cuad.py"
    spec = importlib.util.spec_from_file_location("llamaindex_cuad", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.norm_robust, module.min_cover_end


def _gold_spans(bench: Path) -> dict[tuple[str, str], list[str]]:
    """CUAD's clause texts per (pdf name, category) from the master CSV (every category)."""
    import ast
    import csv
    import re

    csv.field_size_limit(1 << 30)
    out: dict[tuple[str, str], list[str]] = {}
    pdfs = {
        re.sub(r"[^a-z0-9]", "", p.name.lower())[:40]: p.name
        for p in (bench / "cuad" / "pdf").glob("*.pdf")
    }
    with (bench / "cuad" / "full_annotations" / "master_clauses.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = pdfs.get(re.sub(r"[^a-z0-9]", "", row["Filename"].lower())[:40])
            if name is None:
                continue
            for key, value in row.items():
                if key.endswith("Answer") or key == "Filename":
                    continue
                try:
                    spans = ast.literal_eval(value) if value.strip().startswith("[") else []
                except (ValueError, SyntaxError):
                    spans = []
                out[(name, key.lower())] = [s for s in spans if isinstance(s, str)]
    return out


# ------------------------------------------------------------------------------ systems
def _project(ws: Any, contracts: Sequence[Any]) -> Any:
    project = ws.project(PROJECT, create=True)
    if len(ws.documents(project)) < len(contracts):
        for _ in ws.ingest(project, [c.pdf for c in contracts], background_index=False):
            pass
        for _ in ws.build_keywords(project):
            pass
    return project


def run_new(contracts: Sequence[Any], questions: Sequence[tuple[Any, str, str]]) -> list[Record]:
    """This tree's answer path, through the Workspace as the CLI and UI call it."""
    os.environ["TOMES_HOME"] = str(WORK / "answers-home")
    from engine.settings import Settings
    from engine.workspace import Workspace

    ws = Workspace(Settings.load())
    out: list[Record] = []
    try:
        project = _project(ws, contracts)
        ids = {d.name.rsplit("/", 1)[-1]: d.id for d in ws.documents(project)}
        for i, (contract, category, question) in enumerate(questions, 1):
            doc_id = ids[contract.name]
            started = time.perf_counter()
            stream = ws.ask(project, question, documents=[doc_id])
            first = None
            for _ in stream:
                if first is None:
                    first = time.perf_counter() - started
            answer = stream.result()
            total = time.perf_counter() - started
            cites = [{**c.to_json(), "doc_id": c.doc_id} for c in answer.citations]
            out.append(
                Record(
                    "new",
                    contract.name,
                    category,
                    question,
                    answer.text,
                    answer.state.value,
                    cites,
                    first if first is not None else total,
                    total,
                    unsupported=bool(answer.removed)
                    or any(not c.verified for c in answer.citations),
                    cross_doc=sum(1 for c in answer.citations if c.doc_id != doc_id),
                    extra={"prompt_tokens": answer.usage.prompt_tokens},
                )
            )
            print(
                f"  new {i}/{len(questions)} {category[:22]:22s} {answer.state.value:9s} "
                f"{first or total:5.1f}s  {answer.text[:90]!r}",
                flush=True,
            )
    finally:
        ws.close()
    return out


# ------------------------------------------------------------------------------ scoring
def score(records: Iterable[Record], contracts: Sequence[Any]) -> None:
    from bench.cuad_gold import VALUE_CATEGORIES, says_absent, score_value

    norm, cover = _peer_scorer()
    spans = _gold_spans(BENCH)
    by_name = {c.name: c for c in contracts}
    for r in records:
        contract = by_name[r.contract]
        gold = contract.gold[r.category]
        found = r.state == "found" and not says_absent(r.answer)
        if r.category in VALUE_CATEGORIES:
            r.correct = (
                None if gold.redacted else score_value(r.category, r.answer, gold, contract.gold)
            )
        else:
            r.correct = found == gold.present
        golds = [norm(g) for g in spans.get((r.contract, r.category.lower()), []) if g.strip()]
        if found and r.citations and golds:
            quotes = [norm(c.get("quote", "")) for c in r.citations]
            r.cited_gold = any(
                q and (cover(g, q) is not None or cover(q, g) is not None)
                for q in quotes
                for g in golds
            )


def _pct(hits: int, n: int) -> str:
    return f"{100 * hits / n:.1f}% ({hits}/{n})" if n else "-"


def _summary(records: Sequence[Record], contracts: Sequence[Any]) -> dict[str, Any]:
    from bench.cuad_gold import VALUE_CATEGORIES

    by_name = {c.name: c for c in contracts}
    value = [r for r in records if r.category in VALUE_CATEGORIES and r.correct is not None]
    value_pos = [r for r in value if by_name[r.contract].gold[r.category].present]
    yesno = [r for r in records if r.category not in VALUE_CATEGORIES]
    cited = [r for r in records if r.cited_gold is not None]
    ttfts = sorted(r.ttft for r in records)

    def q(p: float) -> float:
        return ttfts[min(len(ttfts) - 1, int(p * len(ttfts)))] if ttfts else 0.0

    per_category: dict[str, dict[str, int]] = {}
    for r in records:
        if r.correct is None:
            continue
        c = per_category.setdefault(r.category, {"right": 0, "n": 0})
        c["right"] += int(r.correct)
        c["n"] += 1
    return {
        "n": len(records),
        "value_accuracy_present": [sum(r.correct for r in value_pos), len(value_pos)],  # type: ignore[misc]
        "value_accuracy_all": [sum(r.correct for r in value), len(value)],  # type: ignore[misc]
        "yesno_accuracy": [sum(bool(r.correct) for r in yesno), len(yesno)],
        "citation_precision": [sum(bool(r.cited_gold) for r in cited), len(cited)],
        "unsupported_rate": [sum(r.unsupported for r in records), len(records)],
        "cross_document_citations": sum(r.cross_doc for r in records),
        "ttft_p50": round(q(0.5), 2),
        "ttft_p90": round(q(0.9), 2),
        "per_category": per_category,
    }


def _report(summaries: dict[str, dict[str, Any]]) -> None:
    systems = list(summaries)
    rows = []
    for label, key in (
        ("value accuracy (clause present)", "value_accuracy_present"),
        ("value accuracy (all contracts)", "value_accuracy_all"),
        ("Yes/No presence accuracy", "yesno_accuracy"),
        ("citation precision", "citation_precision"),
        ("unsupported-claim rate", "unsupported_rate"),
    ):
        rows.append([label, *(_pct(*summaries[s][key]) for s in systems)])
    rows.append(
        ["cross-document citations", *(summaries[s]["cross_document_citations"] for s in systems)]
    )
    rows.append(
        [
            "TTFT p50 / p90 (s)",
            *(f"{summaries[s]['ttft_p50']} / {summaries[s]['ttft_p90']}" for s in systems),
        ]
    )
    print()
    _table(["CUAD", *systems], rows)
    cats = sorted({c for s in systems for c in summaries[s]["per_category"]})
    print()
    _table(
        ["category", *systems],
        [
            [
                c,
                *(
                    _pct(
                        summaries[s]["per_category"].get(c, {}).get("right", 0),
                        summaries[s]["per_category"].get(c, {}).get("n", 0),
                    )
                    for s in systems
                ),
            ]
            for c in cats
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--systems", default="new")
    parser.add_argument("--contracts", type=int, default=20, help="how many of the 20")
    parser.add_argument("--categories", default="value,yesno")
    parser.add_argument("--yesno", type=int, default=33, help="how many Yes/No categories")
    parser.add_argument("--offset", type=int, default=0, help="first contract (for splits)")
    args = parser.parse_args(argv)
    if not (BENCH / "cuad" / "pdf").is_dir():
        print(f"CUAD data not found in {BENCH / 'cuad'}: nothing to measure.")
        return 0
    sys.path.insert(0, str(ROOT))
    from bench.cuad_gold import CATEGORIES, QUESTIONS, VALUE_CATEGORIES, load_contracts

    contracts = load_contracts(BENCH)[args.offset : args.offset + args.contracts]
    wanted = set(args.categories.split(","))
    yesno = [c for c in CATEGORIES if c not in VALUE_CATEGORIES and c != "Warranty Duration"]
    cats = (list(VALUE_CATEGORIES) if "value" in wanted else []) + (
        yesno[: args.yesno] + ["Warranty Duration"] if "yesno" in wanted else []
    )
    questions = [(c, cat, QUESTIONS[cat]) for c in contracts for cat in cats]
    print(f"{len(questions)} questions: {len(contracts)} contracts x {len(cats)} categories")
    results: dict[str, list[Record]] = {}
    for system in args.systems.split(","):
        started = time.perf_counter()
        if system == "new":
            results[system] = run_new(contracts, questions)
        else:
            print(f"unknown system {system!r}: skipped")
            continue
        score(results[system], contracts)
        print(f"{system}: {time.perf_counter() - started:.0f} s")
    summaries = {s: _summary(r, contracts) for s, r in results.items()}
    _report(summaries)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "questions": len(questions),
                "summaries": summaries,
                "records": {s: [r.__dict__ for r in rs] for s, rs in results.items()},
            },
            indent=1,
            default=str,
        )
    )
    print(f"\nwrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
