"""OCR of generated scans with the real engine (Tesseract from its wheel): text and words come
back with the right page and place, rotation and skew are corrected, blank and garbage pages
are told apart, image files become pages, bad images fail alone with a clear reason."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ingest.chunking import ChunkSettings, chunk_blocks_with_segments
from ingest.errors import CorruptFile, EmptyFile, TooLarge
from ingest.ocr import (
    OcrOptions,
    OcrPage,
    PageStatus,
    TesseractEngine,
    TextLine,
    make_engine,
    read_page,
    read_pages,
)
from ingest.ocr.layout import lay_out
from ingest.ocr.ordinals import OCR_ORDINALS, chunk_around_scans, first_ocr_ordinal
from ingest.ocr.orient import PageInk, Transform, estimate_skew, rotate_quarter, straighten
from ingest.ocr.sources import page_images
from ingest.readers import read
from ingest.types import Block, BlockKind, DocKind, Locator, Source
from tests.support.scans import degrade, font, png_header_only, scan_pdf, text_page

LINES = [
    "Scanned Services Agreement",
    "",
    "The monthly service fee is seven thousand euros.",
    "Either party may terminate this agreement with",
    "ninety days written notice to the other party.",
]


def _words(page: OcrPage) -> list[str]:
    return [page.text[w.start : w.end] for w in page.words]


def _box_of(page: OcrPage, word: str) -> tuple[float, float, float, float]:
    for w in page.words:
        if page.text[w.start : w.end].strip(".,") == word:
            return w.box
    raise AssertionError(f"{word!r} not read; text was {page.text!r}")


def _drawn_box(line: int, word: str, *, dpi: int = 150) -> tuple[float, float, float, float]:
    """Where `text_page(LINES, dpi=dpi)` drew `word` of LINES[line], in page fractions."""
    px = round(12 * dpi / 72)
    face = font(px)
    x = y = dpi  # 1-inch margin
    y += round(px * 1.5) * line
    text = LINES[line]
    start = text.index(word)
    draw = ImageDraw.Draw(Image.new("L", (10, 10)))
    x0 = x + draw.textlength(text[:start], font=face)
    left, top, right, bottom = draw.textbbox((x0, y), word, font=face)
    width, height = round(8.5 * dpi), round(11 * dpi)
    return (left / width, top / height, right / width, bottom / height)


def _overlaps(a: tuple[float, ...], b: tuple[float, ...], *, slack: float = 0.01) -> bool:
    return (
        a[0] < b[2] + slack and b[0] < a[2] + slack and a[1] < b[3] + slack and b[1] < a[3] + slack
    )


@pytest.fixture(scope="module")
def engine() -> TesseractEngine:
    return TesseractEngine()


@pytest.fixture(scope="module")
def page_image() -> Image.Image:
    return text_page(LINES, dpi=150)


@pytest.fixture(scope="module")
def upright(page_image: Image.Image, engine: TesseractEngine) -> OcrPage:
    return read_page(page_image, engine)


# --- reading ------------------------------------------------------------------------------


def test_text_words_and_their_boxes(upright: OcrPage) -> None:
    assert upright.status is PageStatus.TEXT
    assert upright.confidence > 0.85
    assert "seven thousand euros" in upright.text
    assert "ninety days written notice" in upright.text
    # a blank line in the source stays a paragraph break; lines stay lines
    assert upright.text.startswith("Scanned Services Agreement\n\n")
    assert upright.text.endswith("\n")
    # every word's offsets point at the word in the text
    assert _words(upright)[:3] == ["Scanned", "Services", "Agreement"]
    for word in ("euros", "terminate", "ninety"):
        line = next(i for i, t in enumerate(LINES) if word in t)
        assert _overlaps(_box_of(upright, word), _drawn_box(line, word)), word


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_a_turned_page_is_read_upright(
    page_image: Image.Image, engine: TesseractEngine, upright: OcrPage, turn: int
) -> None:
    turned = page_image.rotate(-turn, expand=True)  # PIL turns counter-clockwise
    page = read_page(turned, engine)
    assert page.rotation == (360 - turn) % 360
    assert "seven thousand euros" in page.text
    # boxes are on the page as it was given: turn the upright box the same way
    x0, y0, x1, y1 = _box_of(upright, "euros")
    expected = {
        90: (1 - y1, x0, 1 - y0, x1),
        180: (1 - x1, 1 - y1, 1 - x0, 1 - y0),
        270: (y0, 1 - x1, y1, 1 - x0),
    }[turn]
    assert _overlaps(_box_of(page, "euros"), expected)


def test_a_skewed_noisy_scan_is_straightened_and_read(
    page_image: Image.Image, engine: TesseractEngine
) -> None:
    scan = degrade(page_image, rotate=1.5, noise=10, blur=0.6)
    page = read_page(scan, engine)
    assert page.skew == pytest.approx(-1.5, abs=0.3)
    assert "seven thousand euros" in page.text
    assert page.indexed


def test_blank_page_never_reaches_the_engine() -> None:
    class Counting:
        name = "counting"
        calls = 0

        def recognize(self, image: np.ndarray) -> list[TextLine]:
            Counting.calls += 1
            return []

    for image in (Image.new("L", (1275, 1650), 255), Image.new("L", (1275, 1650), 128)):
        page = read_page(image, Counting())
        assert page.status is PageStatus.BLANK and page.text == "" and not page.indexed
    assert Counting.calls == 0


def test_garbage_is_flagged_not_indexed(engine: TesseractEngine) -> None:
    rng = np.random.default_rng(7)
    speckle = (rng.random((900, 700)) > 0.6).astype(np.uint8) * 255
    page = read_page(Image.fromarray(speckle, "L"), engine)
    assert page.status in (PageStatus.UNREADABLE, PageStatus.BLANK), page
    assert not page.indexed


def test_thresholds_decide_the_status() -> None:
    lines = [TextLine("word", 0.7, ((0, 0), (40, 0), (40, 10), (0, 10)))]

    class Fixed:
        name = "fixed"

        def recognize(self, image: np.ndarray) -> list[TextLine]:
            return lines

    image = text_page(LINES, dpi=72)
    assert read_page(image, Fixed()).status is PageStatus.LOW_CONFIDENCE
    strict = OcrOptions(low_confidence=0.6, unreadable_confidence=0.5, retry_below=0.5)
    assert read_page(image, Fixed(), strict).status is PageStatus.TEXT
    assert read_page(image, Fixed(), OcrOptions(unreadable_confidence=0.8)).status is (
        PageStatus.UNREADABLE
    )
    with pytest.raises(ValueError, match="between 0 and 1"):
        OcrOptions(low_confidence=1.5)


def test_pages_read_in_parallel_come_back_in_order(engine: TesseractEngine) -> None:
    images = [(i, text_page([f"Page number {i} of the scan"], dpi=100)) for i in range(1, 5)]
    out = list(read_pages(images, TesseractEngine, workers=2))
    assert [k for k, _ in out] == [1, 2, 3, 4]
    for k, page in out:
        assert f"Page number {k}" in page.text


def test_unknown_engine_names_the_choices() -> None:
    with pytest.raises(ValueError, match="tesseract, rapidocr"):
        make_engine("abbyy")


# --- geometry and layout (no engine) -----------------------------------------------------


def test_quarter_turns_and_straightening_map_points_back() -> None:
    gray = np.full((300, 200), 255, dtype=np.uint8)
    pts = np.array([[10.0, 20.0], [150.0, 280.0]])
    for turn in (0, 90, 180, 270):
        work, t = rotate_quarter(gray, turn, Transform())
        work, t = straighten(work, 2.0, t)
        forward = (np.hstack([pts, np.ones((2, 1))]) @ t.matrix.T)[:, :2]
        assert np.allclose(t.to_original(forward), pts)
        assert work.shape[0] >= (300 if turn % 180 == 0 else 200)


def test_skew_is_measured_on_the_ink(page_image: Image.Image) -> None:
    for angle in (-2.0, 0.0, 1.0):
        turned = page_image.rotate(angle, expand=True, fillcolor=255)
        ink = PageInk.of(np.asarray(turned))
        assert estimate_skew(ink) == pytest.approx(-angle, abs=0.15)


def _line(text: str, x0: float, y0: float, x1: float, y1: float) -> TextLine:
    return TextLine(text, 0.9, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


def test_layout_reads_columns_in_order_and_keeps_paragraphs() -> None:
    lines = [
        _line("right one", 600, 100, 900, 130),
        _line("left one", 100, 100, 400, 130),
        _line("left two", 100, 140, 400, 170),
        _line("right two", 600, 140, 900, 170),
        _line("left para", 100, 220, 400, 250),
    ]
    page = lay_out(lines, lambda poly: (0.0, 0.0, 1.0, 1.0))
    assert page.text == "left one\nleft two\n\nleft para\n\nright one\nright two\n"
    assert [page.text[w.start : w.end] for w in page.words][:2] == ["left", "one"]


def test_layout_splits_a_line_box_into_words_when_the_engine_gives_none() -> None:
    page = lay_out([_line("ab cd", 0, 0, 50, 10)], lambda poly: (poly[0][0], 0, poly[1][0], 1))
    first, second = page.words
    assert page.text == "ab cd\n"
    assert (first.box[0], first.box[2]) == (0, 20) and (second.box[0], second.box[2]) == (30, 50)


# --- image files --------------------------------------------------------------------------


def _source(path: Path) -> Source:
    return Source(
        name=path.name,
        source_key=str(path),
        size=path.stat().st_size,
        open=lambda: open(path, "rb"),
        path=path,
    )


def test_png_jpeg_and_multipage_tiff_become_pages(tmp_path: Path, page_image: Image.Image) -> None:
    png = tmp_path / "scan.png"
    page_image.save(png)
    jpg = tmp_path / "photo.jpg"
    page_image.convert("RGB").save(jpg, quality=80)
    tif = tmp_path / "fax.tiff"
    second = text_page(["Second page of the fax"], dpi=150)
    page_image.save(tif, save_all=True, append_images=[second], compression="tiff_lzw")
    for path, n in ((png, 1), (jpg, 1), (tif, 2)):
        doc = read(_source(path))
        blocks = list(doc.blocks)
        assert doc.kind is DocKind.IMAGE and doc.meta["pages"] == str(n)
        assert [(b.locator.page, b.text, b.needs_ocr) for b in blocks] == [
            (i, "", True) for i in range(1, n + 1)
        ]
    pages = dict(page_images(_source(tif), DocKind.IMAGE, [2], dpi=150))
    assert list(pages) == [2] and pages[2].size == second.size


def test_an_image_only_pdf_renders_its_pages(tmp_path: Path, page_image: Image.Image) -> None:
    pdf = scan_pdf(tmp_path / "scan.pdf", [page_image, "A text page."], dpi=150)
    doc = read(_source(pdf))
    assert [b.needs_ocr for b in doc.blocks] == [True, False]
    ((number, image),) = page_images(_source(pdf), DocKind.PDF, [1], dpi=100)
    assert number == 1 and image.size == (850, 1100)


def test_bad_images_fail_alone_with_the_reason(tmp_path: Path, page_image: Image.Image) -> None:
    import resource

    good = io.BytesIO()
    page_image.save(good, format="PNG")
    cases = {
        "truncated.png": (good.getvalue()[: len(good.getvalue()) // 2], CorruptFile, "damaged"),
        "noise.jpg": (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, CorruptFile, "image"),
        "pixel.png": (png_header_only(1, 1), EmptyFile, "1 x 1 pixels"),
        "huge.png": (png_header_only(20_000, 20_000), TooLarge, "400 megapixels"),
        "big.png": (png_header_only(10_000, 10_000), TooLarge, "100 megapixels"),
        "report.png": (b"%PDF-1.4\n" + bytes(100), CorruptFile, "looks like a PDF"),
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, (data, error, words) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(error) as caught:
            read(_source(path))
        assert caught.value.name == name and words in caught.value.reason, caught.value.reason
    # the 20,000 x 20,000 image was refused from its header: nothing near 400 MB was decoded
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100


# --- chunk ordinals around scanned pages ------------------------------------------------


def _page(n: int, text: str, *, scanned: bool = False) -> Block:
    return Block(text, Locator(doc_id="d" * 64, page=n), BlockKind.PAGE, needs_ocr=scanned)


def test_a_document_without_scans_is_chunked_exactly_as_before() -> None:
    blocks = [_page(1, "alpha beta gamma.\n" * 80), _page(2, "delta.\n" * 200)]
    settings = ChunkSettings(max_tokens=120)
    plain = list(chunk_blocks_with_segments(blocks, doc_id="d" * 64, settings=settings))
    around = list(chunk_around_scans(blocks, doc_id="d" * 64, settings=settings))
    assert around == plain


def test_scanned_pages_reserve_ordinals_where_they_stand() -> None:
    blocks = [
        _page(1, "alpha beta gamma.\n" * 80),
        _page(2, "", scanned=True),
        _page(3, "delta epsilon.\n" * 120),
        _page(4, "", scanned=True),
        _page(5, "", scanned=True),
        _page(6, "zeta.\n"),
    ]
    seen: list[Block] = []
    chunks = [
        c
        for c, _ in chunk_around_scans(
            blocks, doc_id="d" * 64, settings=ChunkSettings(max_tokens=120), seen=seen
        )
    ]
    assert seen == blocks
    ordinals = [c.ordinal for c in chunks]
    assert ordinals == sorted(ordinals) and len(set(ordinals)) == len(ordinals)
    # no chunk spans a scanned page
    assert all((c.locator.page_end or c.locator.page) in (1, 3, 6) for c in chunks)
    before = {p: sum(1 for c in chunks if (c.locator.page or 0) < p) for p in (2, 4, 5)}
    firsts = {
        2: first_ocr_ordinal(0, before[2]),
        4: first_ocr_ordinal(1, before[4]),
        5: first_ocr_ordinal(2, before[5]),
    }
    for page, first in firsts.items():
        # the reserved range is free and lies between the chunks of the pages around it
        reserved = range(first, first + OCR_ORDINALS)
        assert not any(c.ordinal in reserved for c in chunks)
        assert all(c.ordinal < first for c in chunks if (c.locator.page or 0) < page)
        assert all(
            c.ordinal >= first + OCR_ORDINALS for c in chunks if (c.locator.page or 0) > page
        )
