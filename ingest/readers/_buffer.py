"""A bounded accumulator of consecutive line pieces: the building block of line-based readers."""

from __future__ import annotations

from ingest.readers._io import MAX_BLOCK_CHARS
from ingest.types import Block, BlockKind, Locator

__all__ = ["BlockBuffer"]


class BlockBuffer:
    """Accumulates consecutive `(line_number, piece)`s into one block; `take()` empties it.

    Shared by the text, Markdown and code readers. It holds at most one block's text, which
    readers keep under `MAX_BLOCK_CHARS` with `would_overflow`.
    """

    __slots__ = ("_pieces", "chars", "heading_path")

    def __init__(self) -> None:
        self._pieces: list[tuple[int, str]] = []
        self.chars = 0
        self.heading_path: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self._pieces)

    @property
    def lines(self) -> int:
        """How many (possibly partial) lines the buffer spans."""
        if not self._pieces:
            return 0
        return self._pieces[-1][0] - self._pieces[0][0] + 1

    def add(self, line_no: int, piece: str) -> None:
        """Append one line (or slice of a long line)."""
        self._pieces.append((line_no, piece))
        self.chars += len(piece)

    def would_overflow(self, piece: str, limit: int = MAX_BLOCK_CHARS) -> bool:
        """Whether adding `piece` would push a non-empty buffer past `limit` characters."""
        return bool(self._pieces) and self.chars + len(piece) > limit

    def take(self, doc_id: str, kind: BlockKind, *, upto: int | None = None) -> Block | None:
        """The block of the first `upto` pieces (all by default), removed from the buffer.

        Returns None when that block would be empty; the remaining pieces stay buffered.
        """
        cut = len(self._pieces) if upto is None else upto
        taken, self._pieces = self._pieces[:cut], self._pieces[cut:]
        if not taken:
            return None
        text = "".join(piece for _, piece in taken)
        self.chars -= len(text)
        return Block(
            text=text,
            locator=Locator(
                doc_id=doc_id,
                line_start=taken[0][0],
                line_end=taken[-1][0],
                heading_path=self.heading_path,
            ),
            kind=kind,
        )
