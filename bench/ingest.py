"""Ingest benchmark: Tomes vs `pdftotext` and raw pypdf on the same PDFs, in one run.

    .venv/bin/python -m bench.ingest [--skip-codebase]

Corpus (read from ../shared/bench, or TOMES_BENCH_DIR): pdfs/fullrefman.pdf (2,415 pages) and
every cuad/pdf/*.pdf. Each measurement runs in a fresh subprocess so its peak RSS is its own.
Also ingests this environment's site-packages as a codebase (files/s, skipped counts), and
checks memory is flat in document size (a 3-page PDF vs the 2,415-page one).

Prints a table and writes bench/results/ingest.json. Installs nothing: if pdftotext (poppler-
utils) is missing it says so and reports the other rows.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))
OUT = ROOT / "bench" / "results" / "ingest.json"


# ---------------------------------------------------------------------------------- workers
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_tomes(home: str, paths: list[str]) -> dict[str, object]:
    os.environ["TOMES_HOME"] = home
    from engine.intake import ingest_paths
    from engine.settings import Settings
    from engine.store.projects import Projects

    t0 = time.perf_counter()
    settings = Settings.load()
    project = Projects(settings.home).get_or_create("bench")
    counts: dict[str, int] = {}
    failures: list[str] = []
    pages = chunks = 0
    with project.open() as store:
        for event in ingest_paths(store, [Path(p) for p in paths], settings):
            if event.status == "reading":
                continue
            counts[event.status] = counts.get(event.status, 0) + 1
            if event.failed and len(failures) < 20:
                failures.append(f"{event.name}: {event.reason}")
            pages += event.n_pages or 0
            chunks += event.n_chunks
    elapsed = time.perf_counter() - t0
    return {
        "seconds": elapsed,
        "pages": pages,
        "chunks": chunks,
        "counts": counts,
        "failures": failures,
        "peak_mb": _peak_mb(),
    }


def worker_pypdf(paths: list[str]) -> dict[str, object]:
    from pypdf import PdfReader

    t0 = time.perf_counter()
    pages = 0
    for p in paths:
        for page in PdfReader(p).pages:
            page.extract_text()
            pages += 1
    return {"seconds": time.perf_counter() - t0, "pages": pages, "peak_mb": _peak_mb()}


def _run_worker(kind: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--worker", kind, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def worker_pdftotext(paths: list[str]) -> dict[str, object]:
    """In a fresh process, so RUSAGE_CHILDREN sees only the pdftotext runs."""
    exe = shutil.which("pdftotext") or "pdftotext"
    t0 = time.perf_counter()
    for p in paths:
        subprocess.run([exe, "-q", p, os.devnull], check=False)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": time.perf_counter() - t0, "peak_mb": peak}


def _pdftotext(paths: list[Path]) -> dict[str, object] | None:
    if shutil.which("pdftotext") is None:
        return None
    return _run_worker("pdftotext", *map(str, paths))


# ---------------------------------------------------------------------------------- main
def _row(name: str, r: dict[str, object], base: dict[str, object] | None, pages: int) -> list[str]:
    secs = float(r["seconds"])  # type: ignore[arg-type]
    ratio = f"{secs / float(base['seconds']):.2f}x" if base else "n/a"  # type: ignore[arg-type]
    return [name, f"{secs:.2f}", f"{pages / secs:,.0f}", ratio, f"{float(r['peak_mb']):.0f}"]  # type: ignore[arg-type]


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)))


def main(skip_codebase: bool) -> int:
    fullrefman = BENCH / "pdfs" / "fullrefman.pdf"
    cuad = sorted((BENCH / "cuad" / "pdf").glob("*.pdf"))
    if not fullrefman.is_file() or not cuad:
        print(f"data not found: expected {fullrefman} and {BENCH / 'cuad' / 'pdf'}/*.pdf")
        return 0
    results: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "data": str(BENCH),
    }
    corpora = {"fullrefman (2,415 pages)": [fullrefman], f"CUAD ({len(cuad)} contracts)": cuad}
    rows = []
    for label, files in corpora.items():
        base = _pdftotext(files)
        with tempfile.TemporaryDirectory() as home:
            tomes = _run_worker("tomes", home, *map(str, files))
        pypdf = _run_worker("pypdf", *map(str, files))
        pages = int(tomes["pages"])  # type: ignore[arg-type]
        if base is None:
            print("pdftotext not found (install poppler-utils for the baseline row)")
        else:
            rows.append([label, *_row("pdftotext", base, base, pages)])
        rows.append([label, *_row("Tomes ingest", tomes, base, pages)])
        rows.append([label, *_row("pypdf extract_text", pypdf, base, pages)])
        results[label] = {"pdftotext": base, "tomes": tomes, "pypdf": pypdf}
    print(
        "\nPDF ingest (Tomes = pdfium text + chunk + tokenize + SQLite/FTS5, "
        "one transaction per file)"
    )
    _print_table(["corpus", "system", "seconds", "pages/s", "vs pdftotext", "peak RSS MB"], rows)

    # Memory flat in document size: a tiny PDF vs the 2,415-page one, fresh processes.
    from tests.support.fixtures import make_pdf

    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.pdf"
        make_pdf(small, ["one page of text"] * 3)
        with tempfile.TemporaryDirectory() as home:
            tiny = _run_worker("tomes", home, str(small))
    big = results["fullrefman (2,415 pages)"]["tomes"]  # type: ignore[index]
    flat = {"3-page PDF peak MB": tiny["peak_mb"], "2,415-page PDF peak MB": big["peak_mb"]}
    results["memory_flat"] = flat
    print(
        f"\nMemory vs document size: 3 pages -> {tiny['peak_mb']:.0f} MB, "
        f"2,415 pages -> {big['peak_mb']:.0f} MB peak RSS"
    )

    if not skip_codebase:
        site = Path(sysconfig.get_paths()["purelib"])
        with tempfile.TemporaryDirectory() as home:
            code = _run_worker("tomes", home, str(site))
        counts = code["counts"]
        files = sum(counts.values())  # type: ignore[union-attr]
        secs = float(code["seconds"])  # type: ignore[arg-type]
        results["codebase"] = {"path": str(site), **code, "files_per_s": files / secs}
        print(
            f"\nCodebase ingest ({site}): {files:,} files in {secs:.1f}s = "
            f"{files / secs:,.0f} files/s, "
            f"{code['chunks']:,} chunks, peak {float(code['peak_mb']):.0f} MB; outcomes {counts}"  # type: ignore[arg-type]
        )
        for failure in code["failures"]:  # type: ignore[attr-defined]
            print(f"  failed: {failure}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    if not __package__:  # run as a file, bench/ingest.py would shadow the ingest package
        sys.exit("run it from the repository root: .venv/bin/python -m bench.ingest")
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        kind, args = sys.argv[2], sys.argv[3:]
        workers = {
            "tomes": lambda: worker_tomes(args[0], args[1:]),
            "pypdf": lambda: worker_pypdf(args),
            "pdftotext": lambda: worker_pdftotext(args),
        }
        result = workers[kind]()
        print(json.dumps(result))
        sys.exit(0)
    sys.exit(main(skip_codebase="--skip-codebase" in sys.argv))
