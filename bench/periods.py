"""Period roles benchmark (issue 11): does `engine.qa.periods` pick the value a term question
asks for out of a clause that holds several?

    .venv/bin/python -m bench.periods

CUAD's lawyers marked, in each of 510 contracts, the clauses that state its expiration date,
its renewal term and the notice period to stop a renewal, and wrote each one's normalized
answer ("successive 1 year", "30 days"). This bench takes the contracts *outside* the twenty
that bench/answers.py asks questions of (so nothing here was seen while writing the cues),
reads every date and duration out of each marked clause as the answer step does
(`engine.qa.answer_types.candidate_spans`), and answers CUAD's question for that category
with the first value of the clause:
- "first value": whatever value comes first (the answer step's order without roles);
- "by role": the first value whose role (`engine.qa.periods`) is the one the question asks;
- "term clause first": as the answer step does, for the term itself, the values of a sentence
  that states the agreement's own term first (`engine.qa.term_end.states_term`), not a
  licence's or a cure period's;
- "counted dates": for the expiry question, the answer step gives a period counted from the
  agreement's own date (`engine.qa.term_end.counted_from`) as the date it ends on. Counted
  here from CUAD's normalized Effective Date (the clause alone does not hold it), each such
  date is scored as it stands (the columns above let the scorer count from it).
Each is scored as bench/answers.py scores an answer (`bench.cuad_gold.score_value`); a clause
with no value of the asked role counts as a miss for "by role". Redacted answers are left out.
Prints a table and writes bench/results/periods.json. Needs ../shared/bench/cuad (or
TOMES_BENCH_DIR). No model and no index: it runs in seconds.
"""

from __future__ import annotations

import ast
import os
import time
from collections.abc import Sequence
from pathlib import Path

from bench.report import table, write_result

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))
OUT = ROOT / "bench" / "results" / "periods.json"
CATEGORIES = ("Expiration Date", "Renewal Term", "Notice Period to Terminate Renewal")


def _column(row: dict[str, str], name: str, answer: bool = False) -> str:
    want = name.lower() + ("-answer" if answer else "")
    for key, value in row.items():
        if key.lower().replace("- answer", "-answer").strip() == want:
            return value.strip()
    return ""


def _clauses(cell: str) -> list[str]:
    try:
        spans = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        return []
    return [s for s in spans if isinstance(s, str) and s.strip()]


def _values(question: str, text: str) -> list[tuple[int, int, str]]:
    """The dates and durations of `text` in order, each with the sentence it stands in."""
    from engine.qa.answer_types import AnswerType, candidate_spans
    from engine.qa.sentences import split_sentences

    spans = sorted(
        {s for k in (AnswerType.DATE, AnswerType.DURATION) for s in candidate_spans(k, text)}
    )
    sentences = split_sentences(text)
    out = []
    for a, b in spans:
        sa, sb = next(((x, y) for x, y in sentences if x <= a < y), (0, len(text)))
        out.append((a - sa, b - sa, text[sa:sb]))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    del argv
    from bench.cuad_gold import held_out_rows

    rows = held_out_rows(BENCH)
    if rows is None:
        print(f"CUAD annotations not found in {BENCH / 'cuad'}: nothing to measure.")
        return 0
    from bench.cuad_gold import QUESTIONS, Gold, _gold_date, score_value
    from engine.qa.facts import add_period
    from engine.qa.periods import Role, asked_role, fits
    from engine.qa.term_end import counted_from, period_of, states_term

    started = time.perf_counter()
    tally = {
        c: {
            "n": 0,
            "first": 0,
            "role": 0,
            "term": 0,
            "answered": 0,
            "counted": 0,
            "counted_right": 0,
            "no_value": 0,
        }
        for c in CATEGORIES
    }
    cases = []
    for row in rows:
        golds = {
            c: Gold(c, True, _column(row, c, answer=True))
            for c in ("Effective Date", "Agreement Date", *CATEGORIES)
        }
        for cat in CATEGORIES:
            clauses = _clauses(_column(row, cat))
            gold = golds[cat]
            if not clauses or not gold.answer or gold.redacted:
                continue
            question = QUESTIONS[cat]
            role, needs = asked_role(question)
            values = [v for clause in clauses for v in _values(question, clause)]
            if not values or role is None:
                continue
            first = values[0]
            typed = [v for v in values if fits(v[2], v[0], v[1], role, needs)]
            by_role = typed[0] if typed else None
            if role is Role.TERM:
                typed.sort(key=lambda v: not states_term(v[2]))
            by_term = typed[0] if typed else None
            ok_first = score_value(cat, first[2][first[0] : first[1]], gold, golds)
            ok_role = by_role is not None and score_value(
                cat, by_role[2][by_role[0] : by_role[1]], gold, golds
            )
            ok_term = by_term is not None and score_value(
                cat, by_term[2][by_term[0] : by_term[1]], gold, golds
            )
            answered = by_term[2][by_term[0] : by_term[1]] if by_term else ""
            start = _gold_date(golds["Effective Date"].answer)
            counted = False
            if by_term is not None and cat == "Expiration Date" and start is not None:
                period = period_of(answered)
                if period is not None and counted_from(by_term[2], by_term[0], by_term[1]):
                    end = add_period(start, period)
                    counted = end is not None
                    answered = f"{end:%B} {end.day}, {end.year}" if end else answered
            ok_answered = bool(answered) and score_value(
                cat, answered, gold, {c: Gold(c, False, "") for c in golds}
            )
            t = tally[cat]
            t["n"] += 1
            t["first"] += ok_first
            t["role"] += ok_role
            t["term"] += ok_term
            t["answered"] += ok_answered
            t["counted"] += counted
            t["counted_right"] += counted and ok_answered
            t["no_value"] += by_role is None
            cases.append({"file": row["Filename"], "category": cat, "gold": gold.answer,
                          "first": ok_first, "by_role": ok_role,
                          "term_first": ok_term})  # fmt: skip
    print(f"\nCUAD term clauses of {len(rows)} contracts outside the benchmark's twenty:")
    lines = []
    for cat, t in tally.items():
        n = t["n"] or 1
        lines.append([cat, t["n"], f"{t['first'] / n:.1%}", f"{t['role'] / n:.1%}",
                      f"{t['term'] / n:.1%}", t["no_value"]])  # fmt: skip
    n_all = sum(t["n"] for t in tally.values()) or 1
    lines.append(["all", n_all, f"{sum(t['first'] for t in tally.values()) / n_all:.1%}",
                  f"{sum(t['role'] for t in tally.values()) / n_all:.1%}",
                  f"{sum(t['term'] for t in tally.values()) / n_all:.1%}",
                  sum(t["no_value"] for t in tally.values())])  # fmt: skip
    table(
        ["category", "clauses", "first value", "by role", "term clause first", "no value of role"],
        lines,
    )
    expiry = tally["Expiration Date"]
    print(
        f"expiry dates counted from the Effective Date: {expiry['counted_right']} of "
        f"{expiry['counted']} right ({expiry['counted_right'] / (expiry['counted'] or 1):.1%})"
    )
    write_result(OUT, "periods", started, tally=tally, cases=cases)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
