"""Ingest benchmark: Tomes vs `pdftotext` and raw pypdf on the same PDFs, in one run; and
codebase and archive throughput, this tree's code against a baseline commit's, in one run.

    .venv/bin/python -m bench.ingest [--parts pdf,codebase,zip] [--baseline REV]
                                     [--codebase PATH] [--zip-members N] [--old-zip-members N]

`--skip-codebase` (kept for old scripts) is `--parts pdf,zip`.

Codebase (issue 14): this environment's site-packages (or PATH) ingested by the baseline
commit's code ("old", default 17a71f8: the serial ingest before the parallel pipeline) and by
this tree's code ("new"), each in a fresh process and TOMES_HOME, then ingested again into the
same project ("re-ingest": every file unchanged). Files/s counts every file event (added,
unchanged, skipped, failed), as the CLI prints them. Peak RSS is sampled every 0.1 s over the
ingesting process and all its children (the pool workers), summed.

Archive (issue 12): a generated zip of small source files (deterministic). The new code runs
the full `--zip-members` (20,000); the old code reopens the archive for every member
(quadratic), so it runs `--old-zip-members` (1,000) and the table says so.

Corpus (read from ../shared/bench, or TOMES_BENCH_DIR): pdfs/fullrefman.pdf (2,415 pages) and
every cuad/pdf/*.pdf. Each measurement runs in a fresh subprocess so its peak RSS is its own.
Also ingests this environment's site-packages as a codebase (files/s, skipped counts), and
checks memory is flat in document size (a 3-page PDF vs the 2,415-page one).

Prints a table and writes bench/results/ingest.json. Installs nothing: if pdftotext (poppler-
utils) is missing it says so and reports the other rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))
OUT = ROOT / "bench" / "results" / "ingest.json"
#: The code the codebase and zip figures compare against: the serial ingest before issue 12/14.
BASELINE = "17a71f8"


# ---------------------------------------------------------------------------------- workers
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _RssSampler:
    """Samples the summed RSS of this process and its descendants (pool workers) every 0.1 s."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _tree(pid: int) -> list[int]:
        out, todo = [], [pid]
        while todo:
            p = todo.pop()
            out.append(p)
            for task in Path(f"/proc/{p}/task").glob("*/children"):
                with contextlib.suppress(OSError):
                    todo.extend(int(c) for c in task.read_text().split())
        return out

    @staticmethod
    def _rss_kb(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            total = sum(self._rss_kb(p) for p in self._tree(os.getpid()))
            self.peak_kb = max(self.peak_kb, total)


def _ingest_once(ingest_paths: Any, store: Any, paths: list[str], settings: Any) -> dict[str, Any]:
    counts: dict[str, int] = {}
    failures: list[str] = []
    pages = chunks = 0
    t0 = time.perf_counter()
    with _RssSampler() as rss:
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
        "files": sum(counts.values()),
        "files_per_s": sum(counts.values()) / elapsed,
        "failures": failures,
        "peak_mb": _peak_mb(),
        "peak_tree_mb": rss.peak_kb / 1024,
    }


def worker_tomes(
    home: str, paths: list[str], *, code: str | None = None, repeat: bool = False
) -> dict[str, object]:
    """Ingest `paths` with the Tomes code in `code` (default: this tree) into a fresh home."""
    os.environ["TOMES_HOME"] = home
    sys.path.insert(0, code or str(ROOT))
    from engine.intake import ingest_paths
    from engine.settings import Settings

    try:
        from engine.store.projects import Projects
    except ImportError:  # the baseline commit's layout
        from engine.projects import Projects  # type: ignore[no-redef]

    settings = Settings.load()
    project = Projects(settings.home).get_or_create("bench")
    with project.open() as store:
        first = _ingest_once(ingest_paths, store, paths, settings)
        if repeat:
            first["again"] = _ingest_once(ingest_paths, store, paths, settings)
    return first


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


def _pdf_part(results: dict[str, Any]) -> None:
    fullrefman = BENCH / "pdfs" / "fullrefman.pdf"
    cuad = sorted((BENCH / "cuad" / "pdf").glob("*.pdf"))
    if not fullrefman.is_file() or not cuad:
        print(f"data not found: expected {fullrefman} and {BENCH / 'cuad' / 'pdf'}/*.pdf")
        return
    results["data"] = str(BENCH)
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


# ---------------------------------------------------------------------------------- codebase
def _baseline_tree(rev: str, into: Path) -> Path:
    """The baseline commit's files, exported with `git archive` (no checkout, no worktree)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _ingest_run(code: Path | None, paths: list[Path], *, repeat: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        args = ["tomes", home]
        if code is not None:
            args += ["--code", str(code)]
        if repeat:
            args.append("--repeat")
        return _run_worker(*args, *map(str, paths))


def _mb(r: dict[str, Any]) -> str:
    return f"{float(r['peak_tree_mb']):.0f}"


def _codebase_part(
    results: dict[str, Any], old_code: Path, target: Path, systems: set[str], key: str
) -> None:
    if not target.is_dir():
        print(f"data not found: {target} is not a folder")
        return
    runs: dict[str, dict[str, Any]] = {}
    if "old" in systems:
        runs["old (baseline)"] = _ingest_run(old_code, [target], repeat=True)
    if "new" in systems:
        runs["new"] = _ingest_run(None, [target], repeat=True)
    old = runs.get("old (baseline)")
    rows = []
    for label, r in runs.items():
        for run, x, base in (
            ("first ingest", r, old),
            ("re-ingest (unchanged)", r["again"], old["again"] if old else None),
        ):
            ratio = f"{x['files_per_s'] / base['files_per_s']:.2f}x" if base else "n/a"
            rows.append(
                [
                    label,
                    run,
                    f"{x['files']:,}",
                    f"{x['seconds']:.1f}",
                    f"{x['files_per_s']:,.0f}",
                    ratio,
                    f"{x['chunks']:,}",
                    _mb(x),
                ]
            )
    print(f"\nCodebase ingest: {target}")
    _print_table(
        ["code", "run", "files", "seconds", "files/s", "vs old", "chunks", "peak RSS MB"], rows
    )
    for label, r in runs.items():
        print(f"  {label} outcomes: {r['counts']}")
        for failure in r["failures"]:
            print(f"    failed: {failure}")
    results[key] = {"path": str(target), **runs}


def _code_member(i: int) -> str:
    """A small, varied Python module (deterministic in `i`)."""
    words = ["parse", "render", "index", "merge", "split", "fetch", "store", "score", "load"]
    w = words[i % len(words)]
    return (
        f'"""Module {i}: helpers to {w} records of kind {i % 97}."""\n\n'
        f"import math\n\nLIMIT_{i} = {i * 7 % 1000}\n\n\n"
        f"def {w}_{i}(items, *, scale={i % 13}):\n"
        f'    """{w.title()} every item, scaled."""\n'
        f"    out = []\n    for k, item in enumerate(items):\n"
        f"        out.append(math.sqrt(abs(item) + k) * scale + LIMIT_{i})\n"
        f"    return out\n\n\n"
        f"class Record{i}:\n"
        f"    def __init__(self, key, value):\n"
        f"        self.key = key\n        self.value = value\n\n"
        f"    def weight(self):\n        return len(str(self.value)) * {i % 31 + 1}\n"
    )


def make_code_zip(path: Path, n_members: int) -> Path:
    """A zip of `n_members` small Python files in folders of 200 (same bytes every time)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(n_members):
            info = zipfile.ZipInfo(f"pkg{i // 200:03d}/mod_{i:05d}.py", (2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, _code_member(i))
    return path


def _zip_part(results: dict[str, Any], old_code: Path, n_new: int, n_old: int) -> None:
    rows = []
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, code, n in (("old (baseline)", old_code, n_old), ("new", None, n_new)):
            archive = make_code_zip(Path(tmp) / f"code-{n}.zip", n)
            r = _ingest_run(code, [archive], repeat=False)
            out[label] = {"members": n, **r}
            rows.append(
                [label, f"{n:,}", f"{r['seconds']:.1f}", f"{r['files_per_s']:,.0f}", _mb(r)]
            )
    print("\nZip archive ingest (generated small .py members)")
    _print_table(["code", "members", "seconds", "files/s", "peak RSS MB"], rows)
    if n_old != n_new:
        print(
            f"  old runs {n_old:,} members, not {n_new:,}: it reopens the archive per member, "
            "so its cost grows with the square of the member count"
        )
    results["zip"] = out


# ---------------------------------------------------------------------------------- contention
def _code_imports(code: str | None) -> None:
    sys.path.insert(0, code or str(ROOT))


def worker_record(home: str, stop: str, code: str | None) -> dict[str, object]:
    """Save one chat exchange every 0.1 s into the bench project until `stop` exists."""
    os.environ["TOMES_HOME"] = home
    _code_imports(code)
    from engine.settings import Settings

    try:
        from engine.store.chats import ChatLog
        from engine.store.db import ProjectStore
        from engine.store.projects import Projects
    except ImportError:  # the baseline commit's layout
        from engine.projects import Projects  # type: ignore[no-redef]
        from engine.sessions import ChatLog  # type: ignore[no-redef]
        from engine.store import ProjectStore  # type: ignore[no-redef,attr-defined]
    try:
        from tests.support.answers import sample_answer
    except ImportError:  # the baseline commit's layout
        from tests.engine.test_sessions import sample_answer  # type: ignore[no-redef]

    project = Projects(Settings.load().home).get_or_create("bench")
    db = project.db_path
    with ProjectStore(db) as store:
        session = ChatLog(store).create_session("bench").id
    saves: list[float] = []
    errors: list[str] = []
    while not Path(stop).exists():
        with ProjectStore(db) as store:
            t0 = time.perf_counter()
            try:
                ChatLog(store).add_exchange(session, "What is the outlook?", sample_answer())
                saves.append(time.perf_counter() - t0)
            except Exception as exc:  # "database is locked" is the finding
                errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.1)
    return {"saves": saves, "errors": errors}


def _contention_part(results: dict[str, Any], old_code: Path, mb: int) -> None:
    """A long ingest (one big text file) in one process while another saves chat answers."""
    rows = []
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "report.txt"
        line = "The quarterly report lists revenue, costs and the outlook for each region.\n"
        with open(big, "w") as fh:
            for i in range(mb * 1024 * 1024 // (len(line) + 8)):
                fh.write(f"{i:07d} {line}")
        for label, code in (("old (baseline)", old_code), ("new", None)):
            home = Path(tmp) / f"home-{len(out)}"
            stop = Path(tmp) / f"stop-{len(out)}"
            recorder = subprocess.Popen(
                [sys.executable, "-m", "bench.ingest", "--worker", "record", str(home), str(stop)]
                + ([str(code)] if code else []),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(5.0)  # let the recorder create the project and start saving
            t0 = time.perf_counter()
            ingest = _run_worker(
                "tomes", str(home), *(["--code", str(code)] if code else []), str(big)
            )
            wall = time.perf_counter() - t0
            stop.touch()
            rec = json.loads(recorder.communicate(timeout=600)[0].strip().splitlines()[-1])
            saves = sorted(rec["saves"])
            out[label] = {"ingest": ingest, "wall_s": wall, **rec}
            p95 = saves[int(len(saves) * 0.95) - 1] if saves else float("nan")
            rows.append(
                [
                    label,
                    f"{ingest['seconds']:.1f}",
                    str(len(saves)),
                    str(len(rec["errors"])),
                    f"{p95:.3f}",
                    f"{saves[-1]:.3f}" if saves else "n/a",
                ]
            )
    print(f"\nAnswers saved by another process while one {mb} MB text file is ingested")
    _print_table(["code", "ingest s", "saves", "errors", "p95 save s", "slowest save s"], rows)
    results["contention"] = {"file_mb": mb, **out}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="pdf,codebase,zip,contention")
    parser.add_argument("--skip-codebase", action="store_true")
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--codebase", type=Path, default=Path(sysconfig.get_paths()["purelib"]))
    parser.add_argument("--zip-members", type=int, default=20_000)
    parser.add_argument("--old-zip-members", type=int, default=1_000)
    parser.add_argument("--contention-mb", type=int, default=24)
    parser.add_argument("--systems", default="old,new", help="codebase: old, new or both")
    parser.add_argument("--key", default="codebase", help="codebase: its key in the JSON")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    if args.skip_codebase:
        parts.discard("codebase")
    results: dict[str, Any] = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_start": os.getloadavg(),
    }
    if "pdf" in parts:
        _pdf_part(results)
    with tempfile.TemporaryDirectory() as tmp:
        old_code = None
        if parts & {"codebase", "zip", "contention"}:
            old_code = _baseline_tree(args.baseline, Path(tmp))
            results["baseline"] = args.baseline
        if "codebase" in parts and old_code is not None:
            _codebase_part(results, old_code, args.codebase, set(args.systems.split(",")), args.key)
        if "zip" in parts and old_code is not None:
            _zip_part(results, old_code, args.zip_members, args.old_zip_members)
        if "contention" in parts and old_code is not None:
            _contention_part(results, old_code, args.contention_mb)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    if not __package__:  # run as a file, bench/ingest.py would shadow the ingest package
        sys.exit("run it from the repository root: .venv/bin/python -m bench.ingest")
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        kind, args = sys.argv[2], sys.argv[3:]
        if kind == "tomes":
            wp = argparse.ArgumentParser()
            wp.add_argument("home")
            wp.add_argument("--code")
            wp.add_argument("--repeat", action="store_true")
            wp.add_argument("paths", nargs="+")
            wa = wp.parse_args(args)
            result = worker_tomes(wa.home, wa.paths, code=wa.code, repeat=wa.repeat)
        elif kind == "record":
            result = worker_record(args[0], args[1], args[2] if len(args) > 2 else None)
        else:
            result = {"pypdf": worker_pypdf, "pdftotext": worker_pdftotext}[kind](args)
        print(json.dumps(result))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
