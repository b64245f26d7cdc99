"""Benchmarks: each prints a table and writes JSON under bench/results/. Run them from the
repository root as modules, e.g.

    .venv/bin/python -m bench.ingest      # ingest vs pdftotext
    .venv/bin/python -m bench.answer      # time to first token vs the bare model
    .venv/bin/python -m bench.quality     # CUAD recall, needles, QMSum, tree cost
    .venv/bin/python -m bench.embed       # the two MiniLM implementations

As modules, `bench.ingest` cannot shadow the `ingest` package (running bench/ingest.py as a
file would put bench/ first on sys.path), and one benchmark can import another
(`bench.quality` uses `bench.answer`'s raw model rates).
"""
