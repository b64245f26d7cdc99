"""Review-grid benchmark (issue 13): the CUAD contracts x the "Contract review" preset, scored
against CUAD's labels, and the fan-out against a stub server.

    .venv/bin/python -m bench.grid [--parts cuad,chat,fanout] [--contracts 20] [--columns 41]
        [--chat-cells 40] [--fanout-delay 1.0]

- `cuad`: one project of the CUAD contracts (../shared/bench/cuad, or TOMES_BENCH_DIR), one
  grid of the preset's questions over every contract, run with the embedded model through
  llama.cpp in process (one cell at a time), from cold (cells are cleared first). Scored by
  bench/cuad_gold.py (the same code as bench/answers.py): presence accuracy (a found cell vs
  the category having gold spans in CUAD), value accuracy for the 8 value categories
  (`score_value`; redacted gold values counted apart), evidence recall of found cells with the
  peer's scorer (../shared/bench/peers/llamaindex_cuad.py: the cell's quote holds >= 50% of a
  gold span, by longest common substring), and whether every found cell's citation opens on a
  page holding its quote (the source viewer's own check). Also the wall time, cells/min and
  peak RSS.
- `chat`: a sample of the same cells asked as chat questions WITHOUT document scope
  (`Workspace.ask(documents=None)`), scored the same way against the contract the cell is
  about, plus how often the answer cites that contract at all: what scoping buys.
- `fanout`: a grid of 48 generated contracts x 1 question against `StubOpenAIServer` (every
  request waits `--fanout-delay` seconds, like a model server), at concurrency 1, 4 and 16:
  cells/s and the speed-up over 1 (a different seed per run, so every cell is computed).
Prints tables and writes bench/results/grid.json. Work is kept in bench/.work/grid-home.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))
WORK = Path(os.environ.get("TOMES_BENCH_WORK", ROOT / "bench" / ".work"))
OUT = ROOT / "bench" / "results" / "grid.json"
PROJECT = "cuad-grid"

# The preset's column labels -> CUAD's category names (the preset is phrased for reviewers).
CUAD_OF_LABEL = {
    "Document name": "Document Name",
    "Parties": "Parties",
    "Agreement date": "Agreement Date",
    "Effective date": "Effective Date",
    "Expiration date": "Expiration Date",
    "Renewal term": "Renewal Term",
    "Notice to terminate renewal": "Notice Period to Terminate Renewal",
    "Governing law": "Governing Law",
    "Most favored nation": "Most Favored Nation",
    "Non-compete": "Non-Compete",
    "Exclusivity": "Exclusivity",
    "No-solicit of customers": "No-Solicit of Customers",
    "Competitive restriction exception": "Competitive Restriction Exception",
    "No-solicit of employees": "No-Solicit of Employees",
    "Non-disparagement": "Non-Disparagement",
    "Termination for convenience": "Termination for Convenience",
    "ROFR / ROFO / ROFN": "Rofr/Rofo/Rofn",
    "Change of control": "Change of Control",
    "Anti-assignment": "Anti-Assignment",
    "Revenue / profit sharing": "Revenue/Profit Sharing",
    "Price restrictions": "Price Restrictions",
    "Minimum commitment": "Minimum Commitment",
    "Volume restriction": "Volume Restriction",
    "IP ownership assignment": "IP Ownership Assignment",
    "Joint IP ownership": "Joint IP Ownership",
    "License grant": "License Grant",
    "Non-transferable license": "Non-Transferable License",
    "Affiliate license (licensor)": "Affiliate License-Licensor",
    "Affiliate license (licensee)": "Affiliate License-Licensee",
    "Unlimited license": "Unlimited/All-You-Can-Eat-License",
    "Irrevocable or perpetual license": "Irrevocable or Perpetual License",
    "Source code escrow": "Source Code Escrow",
    "Post-termination services": "Post-Termination Services",
    "Audit rights": "Audit Rights",
    "Uncapped liability": "Uncapped Liability",
    "Cap on liability": "Cap on Liability",
    "Liquidated damages": "Liquidated Damages",
    "Warranty duration": "Warranty Duration",
    "Insurance": "Insurance",
    "Covenant not to sue": "Covenant Not to Sue",
    "Third-party beneficiary": "Third Party Beneficiary",
}


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *cells, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)), flush=True)


def _pct(hits: int, n: int) -> str:
    return f"{100 * hits / n:.1f}% ({hits}/{n})" if n else "-"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------ scoring
def _scorer() -> tuple[Any, Any, Any]:
    from bench.answers import _gold_spans, _peer_scorer

    norm, cover = _peer_scorer()
    return norm, cover, _gold_spans(BENCH)


def _score_cell(
    category: str,
    contract: Any,
    state: str,
    answer: str,
    quotes: Sequence[str],
    scorer: tuple[Any, Any, Any],
) -> dict[str, Any]:
    """One answer (a grid cell or a chat answer) against CUAD's labels for `contract`."""
    from bench.cuad_gold import VALUE_CATEGORIES, says_absent, score_value

    norm, cover, spans = scorer
    gold = contract.gold[category]
    found = state == "found" and not says_absent(answer)
    out: dict[str, Any] = {
        "found": found,
        "present": gold.present,
        "presence_ok": found == gold.present,
    }
    if category in VALUE_CATEGORIES:
        out["value_ok"] = (
            None if gold.unscored else score_value(category, answer, gold, contract.gold)
        )
    golds = [norm(g) for g in spans.get((contract.name, category.lower()), []) if g.strip()]
    if found and golds:
        qs = [norm(q) for q in quotes if q.strip()]
        out["evidence_hit"] = any(cover(g, q) is not None for q in qs for g in golds)
        out["quote_in_gold"] = any(cover(q, g) is not None for q in qs for g in golds)
    return out


def _summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    value = [r for r in records if r.get("value_ok") is not None]
    value_present = [r for r in value if r["present"]]
    found = [r for r in records if "evidence_hit" in r]
    cites = [c for r in records for c in r.get("opens", [])]
    return {
        "cells": len(records),
        "presence_accuracy": [sum(r["presence_ok"] for r in records), len(records)],
        "value_accuracy": [sum(r["value_ok"] for r in value), len(value)],
        "value_accuracy_present": [sum(r["value_ok"] for r in value_present), len(value_present)],
        "evidence_recall_found": [sum(r["evidence_hit"] for r in found), len(found)],
        "quote_within_gold_found": [sum(r["quote_in_gold"] for r in found), len(found)],
        "citations_open_on_quote_page": [sum(cites), len(cites)],
        "failed": sum(r["state"] == "failed" for r in records),
        "found": sum(r["state"] == "found" for r in records),
    }


# ------------------------------------------------------------------------------ cuad grid
def _workspace(home: Path) -> Any:
    os.environ["TOMES_HOME"] = str(home)
    from engine.settings import Settings
    from engine.workspace import Workspace

    return Workspace(Settings.load())


def _project(ws: Any, contracts: Sequence[Any]) -> Any:
    project = ws.project(PROJECT, create=True)
    have = {d.name for d in ws.documents(project)}
    missing = [c.pdf for c in contracts if c.pdf.name not in have]
    if missing:
        for _ in ws.ingest(project, missing, background_index=False):
            pass
        for _ in ws.build_keywords(project):
            pass
    return project


def run_cuad(
    contracts: Sequence[Any], columns: int, *, max_minutes: float = 0.0
) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    from engine.store import grids as grid_store

    ws = _workspace(WORK / "grid-home")
    project = _project(ws, contracts)
    preset = ws.preset("Contract review")
    cols = list(preset.columns[:columns])
    names = {c.name for c in contracts}
    ids = [d.id for d in ws.documents(project) if d.name.rsplit("/", 1)[-1] in names]
    grid = ws.put_grid(project, "bench", cols, ids)
    with project.open() as store:  # from cold: every cell is computed
        grid_store.clear_cells(store, ids)
    import threading

    from engine.errors import Cancelled

    started = time.perf_counter()
    last = None
    cancel = threading.Event()
    try:
        for step in ws.run_grid(project, grid.id, cancel=cancel):
            last = step
            if max_minutes and step.elapsed_s > 60 * max_minutes:
                cancel.set()
            if step.cell is not None and step.computed % 20 == 0:
                print(
                    f"  {step.done}/{step.total} cells, {step.elapsed_s:.0f} s, "
                    f"{step.cells_per_min:.1f} cells/min, "
                    f"about {(step.estimate_s or 0) / 60:.0f} min left",
                    flush=True,
                )
    except Cancelled:
        print(f"  stopped after {max_minutes} min: scoring the finished cells only", flush=True)
    wall = time.perf_counter() - started
    assert last is not None
    page = ws.grid_page(project, grid.id)
    scorer = _scorer()
    by_name = {c.name: c for c in contracts}
    records = []
    for row in page.rows:
        contract = by_name[row.document.rsplit("/", 1)[-1]]
        for column, cell in zip(page.grid.columns, row.cells, strict=True):
            if cell.state.value == "pending":
                continue  # not reached within --max-minutes
            category = CUAD_OF_LABEL[column.label]
            rec = {
                "contract": contract.name,
                "doc_id": row.doc_id,
                "category": category,
                "question": cell.question,
                "state": cell.state.value,
                "answer": cell.answer,
                "error": cell.error,
                "seconds": cell.seconds,
                "citations": [{**c.to_json(), "doc_id": c.doc_id} for c in cell.citations],
                **_score_cell(
                    category,
                    contract,
                    cell.state.value,
                    cell.answer,
                    [c.quote for c in cell.citations],
                    scorer,
                ),
            }
            rec["opens"] = [
                bool(ws.open_source(project, c.doc_id, c.locator, quote=c.quote).highlights)
                for c in cell.citations
            ]
            records.append(rec)
    timing = {
        "wall_s": round(wall, 1),
        "cells": last.total,
        "computed": last.computed,
        "cells_per_min": round(60 * last.computed / wall, 2) if wall else 0.0,
        "peak_rss_mb": round(_peak_rss_mb()),
        "prompt_tokens": last.prompt_tokens,
        "completion_tokens": last.completion_tokens,
    }
    return timing, records, (ws, project)


def run_chat(
    ws: Any, project: Any, records: Sequence[dict[str, Any]], n: int, contracts: Sequence[Any]
) -> list[dict[str, Any]]:
    """The same cells asked in the chat without document scope (evenly spread sample)."""
    scorer = _scorer()
    by_name = {c.name: c for c in contracts}
    ids = {d.name.rsplit("/", 1)[-1]: d.id for d in ws.documents(project)}
    step = max(1, len(records) // max(1, n))
    out = []
    for i, rec in enumerate(records[::step][:n], 1):
        contract = by_name[rec["contract"]]
        started = time.perf_counter()
        answer = ws.ask(project, rec["question"]).result()  # no document scope
        target = ids[contract.name]
        quotes = [c.quote for c in answer.citations if c.doc_id == target]
        in_doc = any(c.doc_id == target for c in answer.citations)
        # judged against the contract the cell is about: an answer from another contract
        # is not an answer about this one
        state = answer.state.value if in_doc or answer.state.value != "found" else "found_elsewhere"
        scored = _score_cell(
            rec["category"],
            contract,
            "found" if state == "found" else state,
            answer.text if in_doc else "",
            quotes,
            scorer,
        )
        out.append(
            {
                "contract": contract.name,
                "category": rec["category"],
                "state": state,
                "answer": answer.text,
                "cites_target": in_doc,
                "cites_other": any(c.doc_id != target for c in answer.citations),
                "seconds": time.perf_counter() - started,
                "grid": {
                    k: rec.get(k) for k in ("presence_ok", "value_ok", "evidence_hit", "state")
                },
                **scored,
            }
        )
        print(
            f"  chat {i}/{n} {rec['category'][:24]:24s} {state:15s} {answer.text[:70]!r}",
            flush=True,
        )
    return out


# ------------------------------------------------------------------------------ fan-out
def run_fanout(
    delay: float, lanes: Sequence[int] = (1, 4, 16), n_docs: int = 48
) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from engine.settings import Settings
    from engine.testing import StubOpenAIServer
    from engine.types import GridColumn
    from engine.workspace import Workspace
    from tests.support.fixtures import make_pdf

    home = Path(tempfile.mkdtemp(prefix="tomes-fanout-"))
    inbox = home / "inbox"
    paths = [
        make_pdf(
            inbox / f"contract-{i:02d}.pdf",
            [
                f"SUPPLY AGREEMENT {i}\nThis Supply Agreement is made between Supplier {i} Ltd. "
                f"and Customer {i} plc.\nThe Supplier delivers the goods of Schedule 1 each month.",
                "Payment is due within thirty days of each invoice.\nThis Agreement is governed by "
                f"the laws of {['Scotland', 'Ontario', 'Delaware', 'Bavaria'][i % 4]}.",
            ],
        )
        for i in range(n_docs)
    ]
    out = []
    try:
        with StubOpenAIServer(delay_s=delay) as stub:
            os.environ["TOMES_HOME"] = str(home / "home")
            settings = Settings.load(
                overrides={"model.backend": "openai", "model.base_url": stub.url,
                           "retrieval.embeddings": False, "ingest.chunk_tokens": 64,
                           "ingest.overlap_tokens": 0}
            )  # fmt: skip
            ws = Workspace(settings)
            try:
                project = ws.project("fanout", create=True)
                for _ in ws.ingest(project, paths, background_index=False):
                    pass
                grid = ws.save_grid(
                    project, "law", [GridColumn("Which law governs this agreement?")]
                )
                for n in lanes:
                    stub.requests = stub.max_in_flight = 0
                    started = time.perf_counter()
                    last = list(
                        ws.run_grid(project, grid.id, concurrency=n, overrides={"model.seed": n})
                    )[-1]
                    wall = time.perf_counter() - started
                    out.append(
                        {
                            "concurrency": n,
                            "cells": last.computed,
                            "failed": last.failed,
                            "requests": stub.requests,
                            "max_in_flight": stub.max_in_flight,
                            "wall_s": round(wall, 2),
                            "cells_per_s": round(last.computed / wall, 3),
                        }
                    )
                    print(f"  N={n}: {last.computed} cells in {wall:.1f} s", flush=True)
            finally:
                ws.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    base = out[0]["cells_per_s"] if out else 0
    for row in out:
        row["speedup"] = round(row["cells_per_s"] / base, 2) if base else 0
    return out


# ------------------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--parts", default="cuad,chat,fanout")
    parser.add_argument("--contracts", type=int, default=20, help="how many of the 20")
    parser.add_argument("--columns", type=int, default=41, help="the preset's first N questions")
    parser.add_argument("--chat-cells", type=int, default=40, help="cells asked as chat too")
    parser.add_argument("--fanout-delay", type=float, default=1.0)
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="stop the CUAD grid after this long (0: no limit); only finished cells are scored",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    parts = set(args.parts.split(","))
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "args": vars(args),
    }
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    if "fanout" in parts:
        print(f"fan-out: stub server, {args.fanout_delay} s a request")
        rows = run_fanout(args.fanout_delay)
        result["fanout"] = {"delay_s": args.fanout_delay, "runs": rows}
        print()
        _table(
            ["concurrency", "cells", "max in flight", "wall s", "cells/s", "speed-up"],
            [
                [
                    r["concurrency"],
                    r["cells"],
                    r["max_in_flight"],
                    r["wall_s"],
                    r["cells_per_s"],
                    f"{r['speedup']}x",
                ]
                for r in rows
            ],
        )
    elif "fanout" in previous:
        result["fanout"] = previous["fanout"]
    if parts & {"cuad", "chat"}:
        if not (BENCH / "cuad" / "pdf").is_dir():
            print(f"CUAD data not found in {BENCH / 'cuad'}: nothing to measure.")
        else:
            from bench.cuad_gold import load_contracts

            contracts = load_contracts(BENCH)[: args.contracts]
            print(f"\nCUAD grid: {len(contracts)} contracts x {args.columns} questions")
            timing, records, (ws, project) = run_cuad(
                contracts, args.columns, max_minutes=args.max_minutes
            )
            try:
                grid_summary = _summary(records)
                result["cuad"] = {"timing": timing, "summary": grid_summary, "records": records}
                rows = [
                    ["presence accuracy", _pct(*grid_summary["presence_accuracy"])],
                    ["value accuracy (8 value categories)", _pct(*grid_summary["value_accuracy"])],
                    ["  of them, clause present", _pct(*grid_summary["value_accuracy_present"])],
                    [
                        "evidence recall of found cells (peer scorer)",
                        _pct(*grid_summary["evidence_recall_found"]),
                    ],
                    ["  quote within a gold span", _pct(*grid_summary["quote_within_gold_found"])],
                    [
                        "citations open on a page holding the quote",
                        _pct(*grid_summary["citations_open_on_quote_page"]),
                    ],
                    ["failed cells", grid_summary["failed"]],
                    ["wall time", f"{timing['wall_s'] / 60:.1f} min ({timing['computed']} cells)"],
                    ["cells/min", timing["cells_per_min"]],
                    ["peak RSS", f"{timing['peak_rss_mb']} MB"],
                ]
                print()
                _table(["grid", "value"], rows)
                if "chat" in parts:
                    print(
                        "\nthe same cells as chat questions without document scope "
                        f"({args.chat_cells})"
                    )
                    chat = run_chat(ws, project, records, args.chat_cells, contracts)
                    sampled = {(c["contract"], c["category"]) for c in chat}
                    grid_same = [r for r in records if (r["contract"], r["category"]) in sampled]
                    chat_summary = _summary([{**c, "opens": []} for c in chat])
                    same = _summary(grid_same)
                    chat_summary["cites_target"] = [sum(c["cites_target"] for c in chat), len(chat)]
                    chat_summary["cites_other"] = [sum(c["cites_other"] for c in chat), len(chat)]
                    same["cites_other"] = [
                        sum(
                            any(x["doc_id"] != r["doc_id"] for x in r["citations"])
                            for r in grid_same
                        ),
                        len(grid_same),
                    ]
                    result["chat"] = {
                        "summary": chat_summary,
                        "grid_same_cells": same,
                        "records": chat,
                    }
                    print()
                    _table(
                        ["same cells", "grid (scoped)", "chat (no scope)"],
                        [
                            [
                                "presence accuracy",
                                _pct(*same["presence_accuracy"]),
                                _pct(*chat_summary["presence_accuracy"]),
                            ],
                            [
                                "value accuracy",
                                _pct(*same["value_accuracy"]),
                                _pct(*chat_summary["value_accuracy"]),
                            ],
                            [
                                "evidence recall of found",
                                _pct(*same["evidence_recall_found"]),
                                _pct(*chat_summary["evidence_recall_found"]),
                            ],
                            [
                                "cites another contract",
                                _pct(*same["cites_other"]),
                                _pct(*chat_summary["cites_other"]),
                            ],
                        ],
                    )
            finally:
                ws.close()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nwrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
