"""What the small benches print and write: an aligned table, and a result file with the
machine and the time it took (bench/presence.py, bench/periods.py)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["table", "write_result"]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print `rows` under `header`, each column as wide as its widest cell."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))


def write_result(out: Path, bench: str, started: float, **fields: Any) -> None:
    """Write `fields` to `out` as JSON, after the bench's name, when it ran, on what machine
    and for how long (from `started`, a `time.perf_counter()` reading)."""
    result = {
        "bench": bench,
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "seconds": round(time.perf_counter() - started, 1),
        **fields,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"wrote {out}")
