"""Read several pages at once: one engine per worker thread, results in page order.

Tesseract runs one core per call and releases the GIL while it recognizes, so on N cores N
pages read at once go about N times as fast; onnxruntime engines use every core inside one
call and want one worker. At most `2 * workers` page images are in memory at a time.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from ingest.ocr.engine import OcrEngine
from ingest.ocr.page import OcrOptions, read_page
from ingest.ocr.types import OcrPage

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["default_workers", "read_pages"]

K = TypeVar("K")


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def read_pages(
    images: Iterable[tuple[K, Image.Image]],
    make_engine: Callable[[], OcrEngine],
    *,
    workers: int = 1,
    options: OcrOptions | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[tuple[K, OcrPage]]:
    """(key, OcrPage) for each (key, image), in input order, read by `workers` threads.

    Each thread makes its own engine with `make_engine`. Stops taking new pages once `cancel`
    is set (pages already being read finish and are yielded). Errors from a page are raised
    when its turn to be yielded comes.
    """
    workers = max(1, workers)
    local = threading.local()

    def work(image: Image.Image) -> OcrPage:
        engine = getattr(local, "engine", None)
        if engine is None:
            engine = local.engine = make_engine()
        return read_page(image, engine, options)

    if workers == 1:
        engine = make_engine()
        for key, image in images:
            if cancel is not None and cancel.is_set():
                return
            yield key, read_page(image, engine, options)
        return
    pending: deque[tuple[K, Future[OcrPage]]] = deque()
    source = iter(images)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tomes-ocr") as pool:
        try:
            while True:
                while len(pending) < 2 * workers and not (cancel is not None and cancel.is_set()):
                    item = next(source, None)
                    if item is None:
                        break
                    key, image = item
                    pending.append((key, pool.submit(work, image)))
                if not pending:
                    return
                key, future = pending.popleft()
                yield key, future.result()
        finally:
            for _, future in pending:
                future.cancel()
