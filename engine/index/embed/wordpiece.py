"""The MiniLM WordPiece tokenizer (from its tokenizer.json, via the `tokenizers` package):
token ids for the numpy model, and word-aligned windows for both implementations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engine.errors import BackendUnavailable

__all__ = ["WordPieces"]


class WordPieces:
    """The model's WordPiece tokenizer (from tokenizer.json): ids for the numpy model and
    word-aligned windows for both implementations."""

    def __init__(self, tokenizer_json: Path, *, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_json))
        # tokenizer.json ships with truncation and fixed padding at 128; we truncate ourselves
        # to max_tokens (as sentence-transformers does) and pack instead of padding.
        tok.no_truncation()
        tok.no_padding()
        cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        if cls_id is None or sep_id is None:
            raise BackendUnavailable(f"{tokenizer_json} has no [CLS]/[SEP] tokens; reinstall it")
        self._tok = tok
        self._cls, self._sep = cls_id, sep_id
        self.max_tokens = max_tokens

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """[CLS] + wordpieces cut to max_tokens - 2 + [SEP], per text."""
        room = self.max_tokens - 2
        encodings = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [[self._cls, *e.ids[:room], self._sep] for e in encodings]

    def windows(self, text: str, *, limit: int) -> list[tuple[str, int]]:
        enc = self._tok.encode(text, add_special_tokens=False)
        offsets, words = enc.offsets, enc.word_ids
        n, room = len(offsets), self.max_tokens - 2
        if n == 0:
            return [(text, 0)]
        out: list[tuple[str, int]] = []
        start = 0
        while start < n and len(out) < limit:
            end = min(start + room, n)
            if end < n and words[end] is not None:
                # Back up to the first piece of the word the cut falls in, so that the piece
                # tokenizes exactly as it did inside the whole text.
                cut = end
                while cut > start and words[cut - 1] == words[end]:
                    cut -= 1
                end = cut if cut > start else end
            out.append((text[offsets[start][0] : offsets[end - 1][1]], end - start))
            start = end
        return out
