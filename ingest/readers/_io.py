"""Shared reading plumbing: the hashing first pass, OS-error wording, and line streaming.

Every function here turns library and OS exceptions into `IngestError`s that name the file.
"""

from __future__ import annotations

import errno
import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Final

from ingest.errors import CorruptFile, IngestError, TooLarge, UnreadableFile
from ingest.readers._sniff import HEAD_BYTES
from ingest.types import Source

__all__ = [
    "MAX_BLOCK_CHARS",
    "Probe",
    "guarded",
    "iter_line_pieces",
    "os_reason",
    "probe",
    "read_all",
]

#: Hard cap on one block's text, in characters: blocks stay bounded even for a file that is
#: one enormous line.
MAX_BLOCK_CHARS: Final = 64 * 1024
_READ_CHUNK: Final = 1024 * 1024
_TAIL_BYTES: Final = 1024


def os_reason(exc: OSError, *, what: str = "file") -> str:
    """Plain words for an OS error about a file (or `what`): 'permission denied: ...'."""
    if isinstance(exc, FileNotFoundError):
        return f"no such {what}: it was moved or deleted before it could be read"
    if isinstance(exc, PermissionError):
        return f"permission denied: Tomes is not allowed to read this {what}"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    detail = exc.strerror or str(exc) or type(exc).__name__
    return f"cannot be read ({detail})"


@contextmanager
def guarded(name: str) -> Iterator[None]:
    """Re-raise OS, archive and memory errors inside the block as `IngestError`s for `name`."""
    try:
        yield
    except IngestError:
        raise
    except OSError as exc:
        raise UnreadableFile(name, os_reason(exc)) from exc
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise CorruptFile(name, f"is damaged inside its archive ({exc})") from exc
    except MemoryError as exc:
        raise TooLarge(name, "is too large to read into memory") from exc


@dataclass(frozen=True, slots=True)
class Probe:
    """What one streaming pass over a source's bytes learned: hash, size, first and last bytes."""

    sha256: str
    size: int
    head: bytes
    tail: bytes

    @property
    def complete(self) -> bool:
        """Whether `head` holds the whole file."""
        return self.size <= len(self.head)


def probe(source: Source) -> Probe:
    """Hash a source's bytes in one streaming pass, keeping the first 64 KiB and last 1 KiB."""
    digest = hashlib.sha256()
    head = bytearray()
    tail = b""
    size = 0
    with guarded(source.name), source.open() as stream:
        while True:
            chunk = stream.read(_READ_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            tail = (tail + chunk)[-_TAIL_BYTES:]
    return Probe(sha256=digest.hexdigest(), size=size, head=bytes(head), tail=tail)


def read_all(source: Source, stream: BinaryIO) -> bytes:
    """All remaining bytes of `stream` (for formats whose libraries need random access)."""
    with guarded(source.name):
        return stream.read()


def iter_line_pieces(
    source: Source,
    encoding: str,
    *,
    max_chars: int = MAX_BLOCK_CHARS,
    whole: bytes | None = None,
) -> Iterator[tuple[int, str]]:
    """Stream a text source as `(line_number, piece)` pairs, 1-based, NUL bytes removed.

    A piece is a whole line with its '\\n' (newlines normalised from '\\r\\n' and '\\r'), or,
    for a line longer than `max_chars`, consecutive slices of it that share the line number.
    Only the last line may lack its '\\n'. Undecodable bytes become U+FFFD. `whole` is the
    source's complete bytes when the caller holds them already (a small file's probe): they
    are read from memory instead of opening the source a second time.
    """
    line_no = 1
    opened = (lambda: io.BytesIO(whole)) if whole is not None else source.open
    with guarded(source.name), opened() as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline=None)
        try:
            while True:
                piece = text.readline(max_chars)
                if not piece:
                    break
                ends_line = piece.endswith("\n")
                if "\x00" in piece:
                    piece = piece.replace("\x00", "")
                if piece:
                    yield line_no, piece
                if ends_line:
                    line_no += 1
        finally:
            # Detach so closing the wrapper does not close the stream twice; the `with`
            # above owns it.
            text.detach()
