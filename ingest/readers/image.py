"""Image reader: a PNG, JPEG, TIFF (multi-page too), BMP or WebP file as a document of pages.

Each frame becomes one PAGE block, in order, with `locator.page` 1-based, empty text and
`needs_ocr=True`: the text comes from OCR later (`ingest.ocr`), exactly as for a scanned PDF
page. Reading checks every frame now, so a bad image fails at once with a message naming
it: the bytes must be an image Pillow recognises (a PDF or text file named .png is refused
with what it really is), every frame must decode (damaged or truncated data is a
CorruptFile), be at most `ingest.ocr.images.MAX_IMAGE_PIXELS` (TooLarge, checked on the
header before decoding) and at least `MIN_IMAGE_SIDE` pixels on each side (EmptyFile).
Frames are decoded one at a time and dropped, so memory is bounded by one frame.
"""

from __future__ import annotations

from collections.abc import Iterator

from ingest.errors import CorruptFile
from ingest.ocr.images import image_frames, open_image
from ingest.readers._io import Probe, guarded, probe
from ingest.readers._sniff import describe_magic
from ingest.types import Block, BlockKind, DocKind, Document, Locator, Source

__all__ = ["read_image", "read_image_probed"]

# Checking a frame decodes it at most this large (JPEG decodes smaller directly).
_CHECK_PIXELS = 4_000_000


def _check_magic(source: Source, found: Probe) -> None:
    magic = describe_magic(found.head)
    if magic is not None and "image" not in magic:
        raise CorruptFile(source.name, f"is not an image: it looks like {magic}")


def _count_frames(source: Source) -> int:
    """Open, check and decode every frame once; the number of frames."""
    with guarded(source.name), source.open() as stream:
        image = open_image(source.name, stream)
        count = 0
        for _, frame in image_frames(source.name, image, max_pixels=_CHECK_PIXELS):
            frame.close()
            count += 1
        image.close()
    if count == 0:
        raise CorruptFile(source.name, "has no image data")
    return count


def _pages(doc_id: str, count: int) -> Iterator[Block]:
    for number in range(1, count + 1):
        yield Block(
            text="",
            locator=Locator(doc_id=doc_id, page=number),
            kind=BlockKind.PAGE,
            needs_ocr=True,
        )


def read_image_probed(source: Source, found: Probe) -> Document:
    """Read an image file whose bytes were already probed (see the module docstring)."""
    _check_magic(source, found)
    count = _count_frames(source)
    return Document(
        id=found.sha256,
        name=source.name,
        kind=DocKind.IMAGE,
        source_key=source.source_key,
        blocks=_pages(found.sha256, count),
        size_bytes=found.size,
        path=str(source.path) if source.path is not None else None,
        meta={"pages": str(count)},
    )


def read_image(source: Source) -> Document:
    """Read an image file into one needs-OCR PAGE block per frame (see the module docstring)."""
    return read_image_probed(source, probe(source))
