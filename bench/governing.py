"""Governing-law benchmark (issue 11): does `engine.qa.governing_law` read the law a
choice-of-law clause names, on clauses the rules were not written on?

    .venv/bin/python -m bench.governing

CUAD's lawyers marked, in each of 510 contracts, the clause that says which law governs it,
and wrote its normalized answer ("New York", "England, United Kingdom"). This bench takes the
contracts *outside* the twenty that bench/answers.py asks questions of and answers from each
marked clause:
- "first place": the first place the answer step's candidates hold
  (`engine.qa.answer_types.candidate_spans`, what the model chose among before);
- "choice-of-law clause": the first place `governing_law_spans` reads ("governed by … the
  laws of X"), else nothing.
Each is scored as bench/answers.py scores an answer (`bench.cuad_gold.score_value`). The
clauses are also counted in two halves: the even-numbered ones were read while widening the
clause patterns ("the laws of X … govern", "English law", "the laws thereof"), the odd ones
were not, so the second half says how the reader does on clauses nobody tuned it on.
Prints a table and writes bench/results/governing.json. Needs ../shared/bench/cuad (or
TOMES_BENCH_DIR). No model and no index: it runs in seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from bench.periods import _clauses, _column
from bench.report import table, write_result

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))
OUT = ROOT / "bench" / "results" / "governing.json"
CATEGORY = "Governing Law"


def main(argv: Sequence[str] | None = None) -> int:
    del argv
    from bench.cuad_gold import held_out_rows

    rows = held_out_rows(BENCH)
    if rows is None:
        print(f"CUAD annotations not found in {BENCH / 'cuad'}: nothing to measure.")
        return 0
    from bench.cuad_gold import Gold, score_value
    from engine.qa.answer_types import AnswerType, candidate_spans
    from engine.qa.governing_law import governing_law_spans

    started = time.perf_counter()
    n = first_ok = clause_ok = no_clause = 0
    halves = {"read while writing (even)": [0, 0, 0], "not read (odd)": [0, 0, 0]}
    cases = []
    for row in rows:
        gold = Gold(CATEGORY, True, _column(row, CATEGORY, answer=True))
        text = " ".join(_clauses(_column(row, CATEGORY)))
        if not text or not gold.answer or gold.redacted:
            continue
        places = candidate_spans(AnswerType.PLACE, text)
        first = text[places[0][0] : places[0][1]] if places else ""
        read = governing_law_spans(text)
        clause = text[read[0][0] : read[0][1]] if read else ""
        ok_first = bool(first) and score_value(CATEGORY, first, gold, {})
        ok_clause = bool(clause) and score_value(CATEGORY, clause, gold, {})
        half = halves["read while writing (even)" if n % 2 == 0 else "not read (odd)"]
        half[0] += 1
        half[1] += ok_first
        half[2] += ok_clause
        n += 1
        first_ok += ok_first
        clause_ok += ok_clause
        no_clause += not clause
        cases.append({"file": row["Filename"], "gold": gold.answer, "first": first,
                      "clause": clause, "first_ok": ok_first, "clause_ok": ok_clause})  # fmt: skip
    print(f"\nCUAD governing-law clauses of {len(rows)} contracts outside the benchmark's twenty:")
    d = n or 1
    lines: list[list[object]] = [
        [name, h[0], f"{h[1] / (h[0] or 1):.1%}", f"{h[2] / (h[0] or 1):.1%}", ""]
        for name, h in halves.items()
    ]
    lines.append(["all", n, f"{first_ok / d:.1%}", f"{clause_ok / d:.1%}", no_clause])
    table(["clauses", "n", "first place", "choice-of-law clause", "no clause read"], lines)
    write_result(OUT, "governing", started, n=n, first=first_ok, clause=clause_ok,
                 no_clause=no_clause, halves=halves, cases=cases)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
