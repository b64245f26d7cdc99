"""Yes/No presence benchmark (issue 11): how well does the evidence tell a present clause from an
absent one, and which thresholds should decide it? Calibrated on one half of the CUAD contracts,
measured on the other.

    .venv/bin/python -m bench.presence [--dev 10:20] [--test 0:10]

For every contract and every CUAD Yes/No category (CUAD's own category description is the
question, as in bench/answers.py), the evidence is found as a scoped chat question finds it
(`engine.qa.perdoc.find_evidence`, the same retrieval, sentence ranking and meaning scores;
no model call: a Yes/No is decided by the evidence, see `engine.qa.compose`). Each question
gives two numbers: the best window's word relevance and its best meaning cosine. Then:
- the rule in use (`compose.MIN_RELEVANCE`, `compose.MIN_MEANING`: Yes when either is met)
  is scored on both halves;
- every pair of thresholds on a grid is scored on the dev half alone, and the best pair is
  scored on the test half, which took no part in choosing it.
Contracts are split by position in the sorted list (dev 10-19, test 0-9 by default). Where a
clause is present, it also counts whether CUAD's span of it is among the passages retrieved
and among the evidence windows chosen from them (the span overlaps, by the peer's scorer): a
decider can only say Yes for the right reason when the clause is in view. Prints tables and
writes bench/results/presence.json. Needs ../shared/bench/cuad (or TOMES_BENCH_DIR);
the project is kept in bench/.work/new-home (the one bench/answers.py uses).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.report import table, write_result

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))
WORK = Path(os.environ.get("TOMES_BENCH_WORK", ROOT / "bench" / ".work"))
OUT = ROOT / "bench" / "results" / "presence.json"
PROJECT = "bench-cuad"  # bench/answers.py's project of the 20 contracts

_RELEVANCE_GRID = [round(0.3 + 0.05 * i, 2) for i in range(15)]  # 0.30 .. 1.00
_MEANING_GRID = [round(0.3 + 0.025 * i, 3) for i in range(21)] + [2.0]  # 0.30 .. 0.80, off


@dataclass
class Case:
    """One contract x one Yes/No category: what the evidence scored, and the truth."""

    contract: int
    category: str
    present: bool
    relevance: float  # best window (0 when nothing was found)
    meaning: float  # best cosine of any window (0 when none)
    windows: int
    in_passages: bool | None = None  # present: CUAD's span among the retrieved passages
    in_windows: bool | None = None  # present: ... and among the chosen evidence windows


def _split(text: str) -> range:
    a, b = (int(x) for x in text.split(":"))
    return range(a, b)


def _accuracy(cases: Sequence[Case], rel: float, mean: float) -> float:
    if not cases:
        return 0.0
    hits = sum(((c.relevance >= rel) or (c.meaning >= mean)) == c.present for c in cases)
    return hits / len(cases)


def collect(contract_ids: Sequence[int]) -> list[Case]:
    """The evidence scores of every Yes/No question of `contract_ids`."""
    os.environ["TOMES_HOME"] = str(WORK / "new-home")
    from bench.answers import _gold_spans, _peer_scorer
    from bench.cuad_gold import CATEGORIES, QUESTIONS, VALUE_CATEGORIES, load_contracts
    from engine.qa.answer_types import AnswerType
    from engine.qa.perdoc import PASSAGES, find_evidence
    from engine.qa.retrieve import HybridRetriever
    from engine.settings import Settings
    from engine.workspace import Workspace

    contracts = load_contracts(BENCH)  # also fills QUESTIONS from CUAD's descriptions
    spans = _gold_spans(BENCH)
    norm, cover = _peer_scorer()

    def holds(text: str, golds: Sequence[str]) -> bool:
        t = norm(text)
        return any(cover(g, t) is not None or cover(t, g) is not None for g in golds)

    questions = dict(QUESTIONS)
    yesno = [c for c in CATEGORIES if c not in VALUE_CATEGORIES]
    ws = Workspace(Settings.load())
    out: list[Case] = []
    try:
        project = ws.project(PROJECT, create=True)
        have = {d.name.rsplit("/", 1)[-1]: d.id for d in ws.documents(project)}
        missing = [c.pdf for c in contracts if c.name not in have]
        if missing:
            for _ in ws.ingest(project, missing, background_index=False):
                pass
            for _ in ws.index(project, tree=False):
                pass
            have = {d.name.rsplit("/", 1)[-1]: d.id for d in ws.documents(project)}
        settings = ws.settings_for(project, None)
        with project.open() as store, ws.models.share(settings) as backend:
            kit = ws._cell_kit(project, store, settings)
            for n in contract_ids:
                contract = contracts[n]
                doc_id = have[contract.name]
                retriever = kit.retriever_for(store, doc_id)
                for cat in yesno:
                    windows = find_evidence(
                        questions[cat], retriever, budget=settings.retrieval.evidence_tokens,
                        count=backend.count_tokens, idf=kit.idf, embed=kit.embed,
                        kind=AnswerType.YESNO,
                    )  # fmt: skip
                    present = contract.gold[cat].present
                    golds = [norm(g) for g in spans.get((contract.name, cat.lower()), []) if g]
                    in_passages = in_windows = None
                    if present and golds and isinstance(retriever, HybridRetriever):
                        ranked = retriever.rank(questions[cat])
                        passages = [p for p in ranked if p.level == 0][:PASSAGES]
                        in_passages = any(holds(p.text, golds) for p in passages)
                        in_windows = any(holds(w.text, golds) for w in windows)
                    out.append(
                        Case(
                            n, cat, present,
                            max((w.relevance for w in windows), default=0.0),
                            max((w.meaning or 0.0 for w in windows), default=0.0),
                            len(windows), in_passages, in_windows,
                        )
                    )  # fmt: skip
                print(f"  contract {n}: {len(yesno)} questions", flush=True)
    finally:
        ws.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dev", default="10:20", help="contracts to calibrate on (a:b)")
    parser.add_argument("--test", default="0:10", help="contracts to measure on (a:b)")
    args = parser.parse_args(argv)
    if not (BENCH / "cuad" / "pdf").is_dir():
        print(f"CUAD data not found in {BENCH / 'cuad'}: nothing to measure.")
        return 0
    from engine.qa.compose import MIN_MEANING, MIN_RELEVANCE

    dev_ids, test_ids = _split(args.dev), _split(args.test)
    started = time.perf_counter()
    cases = collect(sorted(set(dev_ids) | set(test_ids)))
    dev = [c for c in cases if c.contract in dev_ids]
    test = [c for c in cases if c.contract in test_ids]
    best = max(
        ((r, m) for r in _RELEVANCE_GRID for m in _MEANING_GRID),
        key=lambda t: (_accuracy(dev, *t), t[0], t[1]),  # ties: the stricter pair
    )
    rules: list[tuple[str, float, float]] = [
        ("in use", MIN_RELEVANCE, MIN_MEANING),
        ("best on dev", *best),
        ("always No", 9.0, 9.0),
    ]
    print(f"\nCUAD Yes/No presence: dev contracts {args.dev} ({len(dev)} questions), "
          f"test {args.test} ({len(test)})")  # fmt: skip
    rows = []
    result_rules = []
    for name, rel, mean in rules:
        d, t = _accuracy(dev, rel, mean), _accuracy(test, rel, mean)
        rows.append([name, rel, "off" if mean > 1 else mean, f"{d:.1%}", f"{t:.1%}"])
        result_rules.append({"rule": name, "min_relevance": rel, "min_meaning": mean,
                             "dev_accuracy": d, "test_accuracy": t})  # fmt: skip
    table(["rule", "min relevance", "min meaning", "dev acc", "test acc"], rows)
    present = sum(c.present for c in test)
    print(f"test: {present} of {len(test)} clauses present")
    seen = [c for c in cases if c.in_passages is not None]
    by_cat: dict[str, list[Case]] = {}
    for c in seen:
        by_cat.setdefault(c.category, []).append(c)
    recall = [
        [cat, len(cs), sum(bool(c.in_passages) for c in cs), sum(bool(c.in_windows) for c in cs)]
        for cat, cs in sorted(by_cat.items())
    ]
    recall.append(["all", len(seen), sum(bool(c.in_passages) for c in seen),
                   sum(bool(c.in_windows) for c in seen)])  # fmt: skip
    print("\nPresent clauses: is CUAD's span in view?")
    table(["category", "present", "in the passages", "in the chosen windows"], recall)
    write_result(
        OUT, "presence", started, dev=args.dev, test=args.test, rules=result_rules,
        cases=[asdict(c) for c in cases],
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
