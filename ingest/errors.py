"""Typed ingest errors. Every error names the file and says why, in words a user can act on.

IngestError
├── UnsupportedFile   extension or content Tomes cannot read
├── EmptyFile         zero bytes, or no text at all
├── CorruptFile       damaged, truncated or not what its extension claims
├── EncryptedFile     needs a password Tomes does not have
├── TooLarge          over a size or expansion limit (zip bombs included)
└── UnreadableFile    the OS refused: permission, vanished, symlink loop
"""

from __future__ import annotations

__all__ = [
    "CorruptFile",
    "EmptyFile",
    "EncryptedFile",
    "IngestError",
    "TooLarge",
    "UnreadableFile",
    "UnsupportedFile",
]


class IngestError(Exception):
    """A single file could not be ingested; the rest of the batch goes on."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class UnsupportedFile(IngestError):
    pass


class EmptyFile(IngestError):
    pass


class CorruptFile(IngestError):
    pass


class EncryptedFile(IngestError):
    pass


class TooLarge(IngestError):
    pass


class UnreadableFile(IngestError):
    pass
