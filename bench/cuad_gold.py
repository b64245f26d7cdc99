"""CUAD gold answers for the 20 benchmark contracts, and how an answer is scored against them.

Shared by bench/answers.py (answers to questions) and bench/grid.py (a review grid): one
definition of "right", applied to every system side by side.

    contracts = load_contracts(bench_dir)      # [Contract(pdf, name, gold={category: Gold})]
    ok = score_value("Governing Law", "the laws of the State of New York", gold)

Value categories are compared by kind (dates as dates, periods as periods, places and names by
their words), after the same normalization for every system. Yes/No categories are scored as
presence: an answer that says the clause is there (a found cell, a "Yes") against whether CUAD's
lawyers marked any span of that category in the contract. Redacted gold values ("[* * *]",
"[]/[]/[][]") and clauses marked with no normalized value cannot be scored and are counted
apart (`Gold.unscored`).
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

__all__ = [
    "CATEGORIES",
    "QUESTIONS",
    "VALUE_CATEGORIES",
    "Contract",
    "Gold",
    "load_contracts",
    "says_absent",
    "score_value",
]

VALUE_CATEGORIES = (
    "Document Name",
    "Parties",
    "Agreement Date",
    "Effective Date",
    "Expiration Date",
    "Renewal Term",
    "Notice Period to Terminate Renewal",
    "Governing Law",
)
# Warranty Duration is a value category in CUAD's category list, but its normalized answers in
# the master CSV are Yes/No, so it is scored as presence.


@dataclass(frozen=True)
class Gold:
    """One category of one contract: whether lawyers marked spans, their normalized answer."""

    category: str
    present: bool
    answer: str
    spans: tuple[str, ...] = ()

    @property
    def redacted(self) -> bool:
        return bool(re.search(r"\[\s*[*\]]|\[\]", self.answer))

    @property
    def unscored(self) -> bool:
        """No value to score against: redacted, or a clause marked with no normalized answer
        (an expiry "ten years after the First Commercial Sale" is left blank in CUAD)."""
        return self.redacted or (self.present and not self.answer.strip())


@dataclass(frozen=True)
class Contract:
    pdf: Path
    name: str  # the file name as added
    gold: dict[str, Gold] = field(default_factory=dict)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())[:40]


def _description_questions(bench: Path) -> dict[str, str]:
    path = bench / "cuad" / "full_annotations" / "category_descriptions.csv"
    out: dict[str, str] = {}
    with path.open(encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            cat = next(iter(row.values())).split(":", 1)[1].strip()
            out[cat] = row["Description"].split(":", 1)[1].strip().replace("\xa0", " ")
    return out


# The questions asked: CUAD's own category descriptions, which are questions for most
# categories; the four that are phrases ("The date of the contract") are put as questions.
_PHRASED = {
    "Document Name": "What is the name of this contract?",
    "Parties": "Who are the parties that signed this contract?",
    "Agreement Date": "What is the date of this contract?",
    "Effective Date": "When is this contract effective?",
}
QUESTIONS: dict[str, str] = {}
CATEGORIES: list[str] = []


def load_contracts(bench: Path) -> list[Contract]:
    """The 20 contracts of `bench`/cuad with CUAD's master annotations for each category."""
    cuad = bench / "cuad"
    QUESTIONS.clear()
    QUESTIONS.update(_description_questions(bench))
    QUESTIONS.update(_PHRASED)
    CATEGORIES[:] = list(QUESTIONS)
    csv.field_size_limit(1 << 30)
    with (cuad / "full_annotations" / "master_clauses.csv").open(encoding="utf-8") as f:
        rows = {_key(r["Filename"]): r for r in csv.DictReader(f)}
    spans: dict[tuple[str, str], list[str]] = {}
    for line in (cuad / "cuad_sample_qa.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        spans.setdefault((Path(rec["pdf_file"]).name, rec["category"]), []).extend(rec["answers"])
    out = []
    for pdf in sorted((cuad / "pdf").glob("*.pdf")):
        row = rows[_key(pdf.name)]
        lower = {k.lower().replace("- answer", "-answer"): v for k, v in row.items()}
        gold = {}
        for cat in CATEGORIES:
            clause = lower.get(cat.lower(), "").strip()
            answer = lower.get(cat.lower() + "-answer", "").strip()
            present = clause not in ("", "[]")
            gold[cat] = Gold(cat, present, answer, tuple(spans.get((pdf.name, cat), ())))
        out.append(Contract(pdf, pdf.name, gold))
    return out


# ------------------------------------------------------------------------------ scoring
_FOLD = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).lower()
    return " ".join(re.sub(r"[^a-z0-9&' ]+", " ", text).split())


_ABSENT = re.compile(
    r"\b(not found|not stated|no such|does not (contain|include|have|state|say|provide|mention)|"
    r"there is no|is not (stated|mentioned|specified)|could not find|cannot find|no [a-z -]{0,30}"
    r"(clause|provision|restriction|right|requirement)s? (is|are)? ?(found|stated|present)|^no\b)",
    re.I,
)


def says_absent(answer: str) -> bool:
    """Whether an answer says the thing asked for is not in the document."""
    return not answer.strip() or bool(_ABSENT.search(answer.strip()))


def _dates(text: str) -> list[date]:
    from engine.qa.facts import extract_facts

    out = []
    for f in extract_facts(text):
        if f.kind == "date":
            y, m, d = (int(v) for v in f.value)  # type: ignore[call-overload]
            try:
                out.append(date(y, m, d or 1))
            except ValueError:
                continue
    return out


def _durations(text: str) -> list[tuple[str, float]]:
    from engine.qa.facts import extract_facts

    return [
        (str(f.value[0]), float(f.value[1]))  # type: ignore[arg-type]
        for f in extract_facts(text)
        if f.kind == "duration"
    ]


def _gold_date(answer: str) -> date | None:
    m = re.match(r"\s*(\d{1,2})/(\d{1,2})/(\d{2,4})\s*$", answer)
    if not m:
        return None
    mo, d, y = (int(x) for x in m.groups())
    y += 2000 if y < 50 else 1900 if y < 100 else 0
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def _gold_duration(part: str) -> tuple[str, float] | None:
    m = re.search(r"(\d+(?:\.\d+)?)\s*(day|week|month|year)", part.lower())
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    if unit == "year":
        return ("month", value * 12)
    if unit == "week":
        return ("day", value * 7)
    return (unit, value)


_GENERIC = frozenset(
    "the and of a an inc incorporated corp corporation llc ltd limited company co sa s a ag nv bv "
    "plc lp llp gmbh agreement contract".split()
)


def _name_tokens(name: str) -> set[str]:
    name = re.sub(r"\(.*?\)", " ", name)  # drop the defined alias: Biopure Corporation ("Company")
    return {t for t in _norm(name).split() if t not in _GENERIC and len(t) > 1}


def score_value(category: str, answer: str, gold: Gold, golds: dict[str, Gold]) -> bool:
    """Whether `answer` gives `gold`'s normalized value (see the module docstring). A category
    the contract lacks is right only when the answer says it is not there."""
    if not gold.present or not gold.answer:
        return says_absent(answer)
    if says_absent(answer):
        return False
    want = gold.answer
    if category in ("Agreement Date", "Effective Date", "Expiration Date"):
        if want.lower().startswith("perpetual"):
            return bool(re.search(r"perpetu|indefinite|until terminated", answer, re.I))
        target = _gold_date(want)
        if target is None:
            return False
        got = _dates(answer)
        if any(abs((g - target).days) <= 1 for g in got):
            return True
        # "five years from the Effective Date" when CUAD normalized it to a date
        start = next(
            (_gold_date(golds[c].answer) for c in ("Effective Date", "Agreement Date")
             if _gold_date(golds[c].answer)), None,
        )  # fmt: skip
        if start is not None:
            for unit, value in _durations(answer):
                days = value * (30.44 if unit == "month" else 1)
                if abs((start + timedelta(days=days) - target).days) <= 3:
                    return True
        return False
    if category in ("Renewal Term", "Notice Period to Terminate Renewal"):
        if want.lower().startswith("perpetual"):
            return bool(re.search(r"perpetu|indefinite", answer, re.I))
        wanted = [d for d in (_gold_duration(p) for p in want.split(";")) if d]
        durations = _durations(answer)
        return bool(wanted) and any(
            gu == wu and abs(gv - wv) < 0.01 for gu, gv in durations for wu, wv in wanted
        )
    if category == "Governing Law":
        places = [p.split(",")[0] for p in want.split(";")]
        text = _norm(answer)
        return any(_norm(p) and _norm(p) in text for p in places)
    if category == "Document Name":
        wanted_tokens = set(_norm(want).split())
        words = set(_norm(answer).split())
        return bool(wanted_tokens) and len(wanted_tokens & words) / len(wanted_tokens) >= 0.75
    if category == "Parties":
        parties = [p for p in want.split(";") if p.strip()]
        names = [_name_tokens(p) for p in parties]
        names = [n for n in names if n]
        words = set(_norm(answer).split())
        matched = sum(1 for n in names if len(n & words) / len(n) >= 0.5)
        return bool(names) and matched >= min(2, len(names))
    return False


def held_out_rows(bench: Path) -> list[dict[str, str]] | None:
    """CUAD's annotation rows (master_clauses.csv) of the contracts *outside* the benchmark's
    twenty, which no rule was written on; None when the annotations are not in `bench`.
    Also fills QUESTIONS."""
    import csv

    master = bench / "cuad" / "full_annotations" / "master_clauses.csv"
    if not master.is_file():
        return None
    seen = {c.name.lower()[:40] for c in load_contracts(bench)}
    csv.field_size_limit(1 << 30)
    with master.open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["Filename"].lower()[:40] not in seen]
