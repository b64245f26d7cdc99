"""Walk user-given paths (files, folders, .zip archives) into `Source`s, lazily and in order.

    for item in iter_sources([Path("report.pdf"), Path("repo"), Path("code.zip")]):
        Source -> read it;  Skipped -> tell the user why not;  IngestError -> report the failure

Nothing is raised for a bad path: errors are yielded so that one bad file never stops a batch.

* A file -> one `Source` (name = its base name as given, source_key = resolved absolute path).
  Over `max_file_bytes` -> TooLarge; unreadable -> UnreadableFile.
* A folder -> its files in sorted (deterministic) depth-first order, with
  name = "folder/relative/posix/path" and `in_codebase=True`.
  - `.gitignore` files are honoured at every level, each relative to its own folder, with
    git's semantics (negation, anchoring, folder-only rules) via `pathspec.GitIgnoreSpec`;
    the deepest matching rule wins, and files inside an ignored folder stay ignored. Only
    `.gitignore` files inside the added folder apply (not those of an enclosing repository).
    Ignored *files* are skipped silently; each ignored *folder* yields one Skipped.
  - Version-control folders (`VCS_DIRS`), vendored/build/cache folders (`VENDORED_DIRS`,
    `*.egg-info`, any folder holding a `pyvenv.cfg`) yield one Skipped each, not walked.
  - Empty files, archives, binary files (by extension or content sniffing), unsupported
    office formats and files over the size limit yield Skipped with a reason, e.g.
    "3.1 MB is over the 2 MB limit for source files". Prose documents (PDF, DOCX, Markdown,
    text) get `max_file_bytes`; everything else gets `max_code_file_bytes`.
  - Symbolic links are not followed by default. A link that loops, points outside the
    folder or dangles yields Skipped saying so; with `follow_symlinks=True` links inside the
    folder are followed, each folder walked at most once, so loops cannot recurse.
  - A file that vanishes between listing and reading, or cannot be read, yields
    UnreadableFile. (The folder is listed one level at a time, just before its files.)
* A .zip -> its members, like a folder, never extracted to disk: name = "zip_stem/member",
  source_key = "/abs/archive.zip!member", `open()` decompresses the member lazily. The
  archive is opened once per process and shared by its members (reopening it per member
  parsed the central directory every time: quadratic in the member count).
  - Members with absolute paths or '..' components -> Skipped ("unsafe path in archive").
  - Zip-bomb guards: more than `max_zip_members` entries, more than `max_zip_total_bytes`
    declared in all, or an overall expansion ratio over `max_zip_ratio` -> one TooLarge for
    the archive, nothing read; a member whose ratio is over `max_zip_ratio` -> TooLarge
    naming it. Ratios are only judged for members (archives) expanding past 1 MiB, since
    small repetitive files legitimately compress very well. Reading a member stops with
    TooLarge past its declared size (headers can lie).
  - A member over its size limit is Skipped as in a folder; archives inside the archive ->
    Skipped ("nested archive not expanded"); encrypted members -> EncryptedFile.
  - A damaged or non-zip file -> CorruptFile.
* A path that does not exist -> UnreadableFile(path, "no such file or folder").
* Every Source carries a `fingerprint` (size and mtime for files, size and CRC-32 for zip
  members; see `file_fingerprint`) so that re-adding unchanged files can skip reading them.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import time
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, Final

from ingest.errors import (
    CorruptFile,
    EncryptedFile,
    IngestError,
    TooLarge,
    UnreadableFile,
    UnsupportedFile,
)
from ingest.readers._formats import (
    ARCHIVE_SUFFIXES,
    BINARY_SUFFIXES,
    DOCUMENT_SUFFIXES,
    SUPPORTED_SUMMARY,
    UNSUPPORTED_DOCUMENT_SUFFIXES,
)
from ingest.readers._io import os_reason
from ingest.readers._sniff import SNIFF_BYTES, sniff_text
from ingest.types import Skipped, Source

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

__all__ = [
    "DEFAULT_LIMITS",
    "JUNK_FILES",
    "RACY_NS",
    "VCS_DIRS",
    "VENDORED_DIRS",
    "KnownCheck",
    "SourceItem",
    "SourceLimits",
    "file_fingerprint",
    "format_size",
    "iter_sources",
]

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB

#: Version-control metadata folders: never walked.
VCS_DIRS: Final = frozenset({".git", ".hg", ".svn", ".bzr", "_darcs", "CVS", ".jj", ".pijul"})
#: Dependency, build, cache and editor folders: never walked (one Skipped each).
VENDORED_DIRS: Final = frozenset(
    {"node_modules", "bower_components", "jspm_packages", "vendor", ".venv", "venv"}
    | {"__pycache__", "dist", "build", "target", ".tox", ".nox", ".mypy_cache"}
    | {".pytest_cache", ".ruff_cache", ".hypothesis", "site-packages", ".idea", ".vscode"}
    | {".gradle", ".next", ".nuxt", ".svelte-kit", ".parcel-cache", ".cache", ".eggs"}
    | {"htmlcov", ".ipynb_checkpoints", ".terraform", "Pods", "DerivedData", "__MACOSX"}
)
#: Operating-system litter: skipped silently.
JUNK_FILES: Final = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "Icon\r"})

#: A file modified less than this long ago (ns) gets no fingerprint (see `file_fingerprint`).
RACY_NS: Final = 2_000_000_000
_RATIO_GRACE_BYTES: Final = MiB
_MAX_GITIGNORE_BYTES: Final = MiB
_ZIP_METHODS: Final = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_UNSAFE_DRIVE: Final = re.compile(r"[A-Za-z]:")


@dataclass(frozen=True, slots=True)
class SourceLimits:
    """Size and safety limits for walking paths (see the module docstring)."""

    max_file_bytes: int = 512 * MiB  # documents, and any file added on its own
    max_code_file_bytes: int = 2 * MiB  # other files found in a folder or archive
    max_zip_members: int = 50_000
    max_zip_total_bytes: int = 2 * GiB  # declared uncompressed size of all members
    max_zip_ratio: float = 200.0  # uncompressed/compressed, per member and overall
    follow_symlinks: bool = False


#: The limits `iter_sources` uses unless told otherwise.
DEFAULT_LIMITS: Final = SourceLimits()

#: What `iter_sources` yields.
SourceItem = Source | Skipped | IngestError

#: `known(source_key, fingerprint)`: whether the caller already holds exactly these bytes
#: (see `iter_sources`).
KnownCheck = Callable[[str, str], bool]


def _never(source_key: str, fingerprint: str) -> bool:
    return False


def format_size(n_bytes: int) -> str:
    """A short human size: '3.1 MB', '2 MB', '512 KB', '17 bytes' (binary units)."""
    for unit, factor in (("GB", GiB), ("MB", MiB), ("KB", KiB)):
        if n_bytes >= factor:
            value = f"{n_bytes / factor:.1f}".removesuffix(".0")
            return f"{value} {unit}"
    return f"{n_bytes} bytes"


def _suffix(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return "." + base.rsplit(".", 1)[-1].lower() if "." in base.lstrip(".") else ""


def _printable(name: str) -> str:
    """`name` safe to show and store: undecodable file-name bytes become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _open_file(path: Path) -> BinaryIO:
    return open(path, "rb")


def _size_limit(suffix: str, limits: SourceLimits) -> tuple[int, str]:
    if suffix in DOCUMENT_SUFFIXES:
        return limits.max_file_bytes, "documents"
    return limits.max_code_file_bytes, "source files"


def _skip_by_name(suffix: str, *, nested: bool) -> str | None:
    """The skip reason a file's extension alone gives, inside a folder or archive."""
    if suffix in ARCHIVE_SUFFIXES:
        if nested:
            return "nested archive not expanded"
        return "archive not expanded (add the archive itself to read its files)"
    if suffix in UNSUPPORTED_DOCUMENT_SUFFIXES:
        return f"unsupported file type '{suffix}' ({SUPPORTED_SUMMARY})"
    if suffix in BINARY_SUFFIXES:
        return "binary file"
    return None


def _binary_reason(head: bytes, *, complete: bool) -> str | None:
    sniff = sniff_text(head, complete=complete)
    if not sniff.binary:
        return None
    return f"binary file ({sniff.magic})" if sniff.magic else "binary file"


def _vendored_reason(name: str) -> str | None:
    if name in VCS_DIRS:
        return "version-control folder"
    if name in VENDORED_DIRS or name.endswith(".egg-info"):
        return f"vendored, build or cache folder ({name})"
    return None


# --- .gitignore ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _IgnoreRules:
    """One .gitignore's rules; `base` is its folder relative to the walk root ('' = root)."""

    base: str
    spec: GitIgnoreSpec


def _parse_gitignore(text: str, base: str) -> _IgnoreRules | None:
    from pathspec import GitIgnoreSpec

    spec = GitIgnoreSpec.from_lines(text.splitlines())
    return _IgnoreRules(base, spec) if len(spec) else None


def _is_ignored(rules: Sequence[_IgnoreRules], rel: str, *, is_dir: bool) -> bool:
    """Git's verdict for `rel` (relative to the root) under the applicable rules, outermost first.

    The deepest .gitignore with a matching rule decides; within it, the last matching rule.
    """
    for rule in reversed(rules):
        sub = rel[len(rule.base) + 1 :] if rule.base else rel
        verdict = rule.spec.check_file(sub + "/" if is_dir else sub).include
        if verdict is not None:
            return verdict
    return False


# --- plain files --------------------------------------------------------------------------


def file_fingerprint(st: os.stat_result, *, now_ns: int | None = None) -> str:
    """'size:mtime_ns' for a file, or '' when it changed less than `RACY_NS` ago.

    A file modified within the clock's granularity of being read could change again with the
    same size and mtime; git calls this "racy" and re-checks such files. Tomes does the
    same: a fingerprint is only given once the file has been still for two seconds.
    """
    now = time.time_ns() if now_ns is None else now_ns
    if now - st.st_mtime_ns < RACY_NS:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def _plain_file(
    path: Path, st: os.stat_result, limits: SourceLimits, known: KnownCheck
) -> SourceItem:
    size = st.st_size
    name = _printable(path.name or str(path))
    real = path.resolve()
    if size > limits.max_file_bytes:
        return TooLarge(
            name,
            f"{format_size(size)} is over the {format_size(limits.max_file_bytes)} limit",
        )
    fingerprint = file_fingerprint(st)
    if not (fingerprint and known(str(real), fingerprint)):
        try:
            with open(real, "rb"):
                pass
        except OSError as exc:
            return UnreadableFile(name, os_reason(exc))
    return Source(
        name=name,
        source_key=str(real),
        size=size,
        open=partial(_open_file, real),
        path=real,
        fingerprint=fingerprint,
    )


# --- folders ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Frame:
    """One folder being walked: its entries still to visit and the rules in force."""

    real: str  # real (symlink-free) path of the folder
    rel: str  # path relative to the walk root, posix, '' for the root
    rules: tuple[_IgnoreRules, ...]
    entries: Iterator[os.DirEntry[str]]
    ancestors: frozenset[str]  # real paths of this folder and those above it


#: A generator of what one folder entry gives, returning a folder to descend into, if any.
_Visit = Generator[SourceItem, None, _Frame | None]


class _FolderWalk:
    """Depth-first, sorted walk of one folder (see the module docstring)."""

    def __init__(self, root: Path, limits: SourceLimits, known: KnownCheck) -> None:
        self.limits = limits
        self.known = known
        self.root_real = os.path.realpath(root)
        given = root.name if root.name not in ("", ".", "..") else ""
        self.label = _printable(given or Path(self.root_real).name or self.root_real)
        self.visited: set[str] = set()

    def display(self, rel: str) -> str:
        return f"{self.label}/{_printable(rel)}"

    def _open_frame(
        self,
        real: str,
        rel: str,
        rules: tuple[_IgnoreRules, ...],
        ancestors: frozenset[str],
    ) -> tuple[_Frame | None, list[SourceItem]]:
        shown = self.display(rel) if rel else self.label
        try:
            with os.scandir(real) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            return None, [UnreadableFile(shown, os_reason(exc, what="folder"))]
        self.visited.add(real)
        problems: list[SourceItem] = []
        for entry in entries:
            if entry.name == ".gitignore" and entry.is_file(follow_symlinks=False):
                try:
                    with open(entry.path, "rb") as fh:
                        data = fh.read(_MAX_GITIGNORE_BYTES)
                except OSError as exc:
                    problems.append(
                        UnreadableFile(self.display(_join(rel, ".gitignore")), os_reason(exc))
                    )
                    break
                parsed = _parse_gitignore(data.decode("utf-8", "replace"), rel)
                if parsed is not None:
                    rules = (*rules, parsed)
                break
        frame = _Frame(real, rel, rules, iter(entries), ancestors | {real})
        return frame, problems

    def walk(self) -> Iterator[SourceItem]:
        frame, problems = self._open_frame(self.root_real, "", (), frozenset())
        yield from problems
        stack = [frame] if frame is not None else []
        while stack:
            top = stack[-1]
            entry = next(top.entries, None)
            if entry is None:
                stack.pop()
                continue
            child = yield from self._visit(top, entry)
            if child is not None:
                stack.append(child)

    def _visit(self, frame: _Frame, entry: os.DirEntry[str]) -> _Visit:
        """Yield what one entry gives; return a frame to descend into, if any."""
        name = entry.name
        rel = _join(frame.rel, name)
        shown = self.display(rel)
        if name in JUNK_FILES:
            return None
        if entry.is_symlink():
            return (yield from self._symlink(frame, entry.path, rel, shown))
        if entry.is_dir(follow_symlinks=False):
            return (yield from self._folder(frame, entry.path, rel, shown))
        if entry.is_file(follow_symlinks=False):
            if not _is_ignored(frame.rules, rel, is_dir=False):
                yield self._file(entry.path, shown)
            return None
        yield Skipped(shown, "not a regular file (a device, pipe or socket)")
        return None

    def _folder(self, frame: _Frame, real: str, rel: str, shown: str) -> _Visit:
        name = rel.rsplit("/", 1)[-1]
        reason = _vendored_reason(name)
        if reason is None and os.path.isfile(os.path.join(real, "pyvenv.cfg")):
            reason = "Python virtual environment"
        if reason is None and _is_ignored(frame.rules, rel, is_dir=True):
            reason = "ignored by .gitignore"
        if reason is None and os.path.realpath(real) in self.visited:
            reason = "folder already read through a symbolic link"
        if reason is not None:
            yield Skipped(shown, reason)
            return None
        child, problems = self._open_frame(real, rel, frame.rules, frame.ancestors)
        yield from problems
        return child

    def _symlink(self, frame: _Frame, link: str, rel: str, shown: str) -> _Visit:
        try:
            target = os.path.realpath(link, strict=True)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                yield Skipped(shown, "symbolic link loop; not followed")
            elif exc.errno == errno.ENOENT:
                yield Skipped(shown, "broken symbolic link (its target does not exist)")
            else:
                yield UnreadableFile(shown, os_reason(exc))
            return None
        if not _within(target, self.root_real):
            yield Skipped(shown, "symbolic link to a place outside the folder; not followed")
            return None
        is_dir = os.path.isdir(target)
        if is_dir and target in frame.ancestors:
            yield Skipped(shown, "symbolic link loop (it points to a folder above it)")
            return None
        if is_dir and target in self.visited:
            yield Skipped(shown, "symbolic link to a folder already read; not followed")
            return None
        if not self.limits.follow_symlinks:
            yield Skipped(shown, "symbolic link; not followed (follow_symlinks is off)")
            return None
        if is_dir:
            return (yield from self._folder(frame, target, rel, shown))
        if not _is_ignored(frame.rules, rel, is_dir=False):
            yield self._file(target, shown)
        return None

    def _file(self, path: str, shown: str) -> SourceItem:
        suffix = _suffix(shown)
        try:
            st = os.stat(path)
        except OSError as exc:
            return UnreadableFile(shown, os_reason(exc))
        size = st.st_size
        if size == 0:
            return Skipped(shown, "empty file (0 bytes)")
        reason = _skip_by_name(suffix, nested=False)
        if reason is not None:
            return Skipped(shown, reason)
        limit, what = _size_limit(suffix, self.limits)
        if size > limit:
            return Skipped(
                shown, f"{format_size(size)} is over the {format_size(limit)} limit for {what}"
            )
        fingerprint = file_fingerprint(st)
        # Bytes the caller already holds were sniffed when they were added: not read again.
        if not (fingerprint and self.known(path, fingerprint)):
            try:
                with open(path, "rb") as fh:
                    head = fh.read(SNIFF_BYTES)
            except OSError as exc:
                return UnreadableFile(shown, os_reason(exc))
            if suffix not in (".pdf", ".docx"):
                binary = _binary_reason(head, complete=size <= len(head))
                if binary is not None:
                    return Skipped(shown, binary)
        real = Path(path)
        return Source(
            name=shown,
            source_key=str(real),
            size=size,
            open=partial(_open_file, real),
            path=real,
            in_codebase=True,
            fingerprint=fingerprint,
        )


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


# --- zip archives -------------------------------------------------------------------------


class _BoundedMember(io.RawIOBase):
    """A zip member's decompressed stream that refuses to go past `limit` bytes.

    Closing it closes the member (the archive stays open for its other members). Damage found
    while decompressing becomes CorruptFile; reading past the limit raises TooLarge.
    """

    def __init__(self, raw: IO[bytes], *, limit: int, name: str) -> None:
        super().__init__()
        self._raw = raw
        self._limit = limit
        self._name = name
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        # Ask for at most one byte past the limit: enough to notice a lying header.
        want = min(len(view), self._limit - self._count + 1)
        try:
            data = self._raw.read(want)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise CorruptFile(self._name, f"is damaged inside its archive ({exc})") from exc
        n = len(data)
        self._count += n
        if self._count > self._limit:
            raise TooLarge(
                self._name,
                f"expands past its declared {format_size(self._limit)} (possible zip bomb)",
            )
        view[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


@lru_cache(maxsize=8)
def _shared_archive(real: str, size: int, mtime_ns: int) -> zipfile.ZipFile:
    """One open, read-only ZipFile per archive version, shared by all its members' readers.

    Opening a ZipFile parses the whole central directory (0.3 s for 20,000 members), so
    opening it once per member made big archives quadratic. The cache key includes the
    archive's size and mtime, so a rewritten archive is opened afresh. zipfile serialises
    reads of concurrently open members itself (its `_SharedFile` lock), so sharing is safe
    across threads; each process (a pool worker) has its own copy of the cache.
    """
    return zipfile.ZipFile(real)


def _open_zip_member(archive_path: str, member: str, limit: int, name: str) -> BinaryIO:
    """Open one member for reading, lazily decompressed and bounded by `limit` bytes."""
    try:
        st = os.stat(archive_path)
        archive = _shared_archive(archive_path, st.st_size, st.st_mtime_ns)
    except OSError as exc:
        raise UnreadableFile(name, os_reason(exc, what="archive")) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise CorruptFile(name, f"its archive is no longer a valid .zip ({exc})") from exc
    try:
        raw = archive.open(member)
    except KeyError as exc:
        raise UnreadableFile(name, "is no longer in its archive") from exc
    except RuntimeError as exc:  # zipfile's "password required for extraction"
        raise EncryptedFile(name, "is password-protected inside its archive") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise CorruptFile(name, f"is damaged inside its archive ({exc})") from exc
    return io.BufferedReader(_BoundedMember(raw, limit=limit, name=name))


def _member_ratio_over(info: zipfile.ZipInfo, limits: SourceLimits) -> bool:
    ratio = info.file_size / max(info.compress_size, 1)
    return info.file_size > _RATIO_GRACE_BYTES and ratio > limits.max_zip_ratio


def _unsafe_member(member: str) -> bool:
    parts = re.split(r"[\\/]", member)
    return (
        member.startswith(("/", "\\")) or _UNSAFE_DRIVE.match(member) is not None or ".." in parts
    )


def _zip_rules(
    archive: zipfile.ZipFile, infos: Sequence[zipfile.ZipInfo], limits: SourceLimits
) -> dict[str, _IgnoreRules]:
    """The archive's .gitignore rules by folder (bounded reads; unsafe or odd ones ignored)."""
    rules: dict[str, _IgnoreRules] = {}
    for info in infos:
        path = info.filename
        if not (path == ".gitignore" or path.endswith("/.gitignore")) or _unsafe_member(path):
            continue
        if info.file_size > _MAX_GITIGNORE_BYTES or info.flag_bits & 0x1:
            continue
        base = path.rsplit("/", 1)[0] if "/" in path else ""
        try:
            with archive.open(info) as fh:
                data = fh.read(_MAX_GITIGNORE_BYTES)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError):
            continue
        parsed = _parse_gitignore(data.decode("utf-8", "replace"), base)
        if parsed is not None:
            rules[base] = parsed
    return rules


def _ancestor_rules(
    rules: dict[str, _IgnoreRules], parts: Sequence[str], depth: int
) -> list[_IgnoreRules]:
    """Rules from the folders above `parts[:depth]` (root first)."""
    found = []
    for j in range(depth):
        base = "/".join(parts[:j])
        if base in rules:
            found.append(rules[base])
    return found


class _ZipWalk:
    """The members of one .zip archive (see the module docstring)."""

    def __init__(self, path: Path, limits: SourceLimits, known: KnownCheck) -> None:
        self.limits = limits
        self.known = known
        self.name = _printable(path.name)
        self.stem = _printable(path.stem or path.name)
        self.real = os.path.realpath(path)

    def walk(self) -> Iterator[SourceItem]:
        try:
            archive = zipfile.ZipFile(self.real)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
            yield CorruptFile(self.name, f"is not a valid .zip archive ({exc})")
            return
        except OSError as exc:
            yield UnreadableFile(self.name, os_reason(exc))
            return
        with archive:
            yield from self._members(archive)

    def _archive_guard(self, infos: Sequence[zipfile.ZipInfo]) -> TooLarge | None:
        limits = self.limits
        if len(infos) > limits.max_zip_members:
            return TooLarge(
                self.name,
                f"has {len(infos):,} entries, over the {limits.max_zip_members:,} limit",
            )
        total = sum(info.file_size for info in infos)
        if total > limits.max_zip_total_bytes:
            return TooLarge(
                self.name,
                f"would expand to {format_size(total)}, over the "
                f"{format_size(limits.max_zip_total_bytes)} limit (possible zip bomb)",
            )
        # Members over the ratio are refused one by one (naming them); the overall ratio of
        # the others catches bombs made of many small members, each under the 1 MiB grace.
        rest = [info for info in infos if not _member_ratio_over(info, limits)]
        expanded = sum(info.file_size for info in rest)
        packed = sum(info.compress_size for info in rest)
        ratio = expanded / max(packed, 1)
        if expanded > _RATIO_GRACE_BYTES and ratio > limits.max_zip_ratio:
            return TooLarge(
                self.name,
                f"expands {ratio:,.0f}x, over the {limits.max_zip_ratio:g}x limit "
                "(possible zip bomb)",
            )
        return None

    def _members(self, archive: zipfile.ZipFile) -> Iterator[SourceItem]:
        infos = archive.infolist()
        refused = self._archive_guard(infos)
        if refused is not None:
            yield refused
            return
        files = sorted((i for i in infos if not i.is_dir()), key=lambda i: i.filename)
        rules = _zip_rules(archive, files, self.limits)
        reported: set[str] = set()
        for info in files:
            member = info.filename
            shown = f"{self.stem}/{_printable(member)}"
            if _unsafe_member(member):
                yield Skipped(shown, "unsafe path in archive (absolute or with '..'); not read")
                continue
            parts = [p for p in member.split("/") if p not in ("", ".")]
            if not parts:
                continue
            excluded = self._excluded_folder(parts, rules)
            if excluded is not None:
                folder, reason = excluded
                if folder not in reported:
                    reported.add(folder)
                    yield Skipped(f"{self.stem}/{_printable(folder)}", reason)
                continue
            if parts[-1] in JUNK_FILES:
                continue
            rel = "/".join(parts)
            if _is_ignored(_ancestor_rules(rules, parts, len(parts)), rel, is_dir=False):
                continue
            yield self._member(archive, info, shown)

    def _excluded_folder(
        self, parts: Sequence[str], rules: dict[str, _IgnoreRules]
    ) -> tuple[str, str] | None:
        """(folder, reason) when a folder above the member is vendored or ignored."""
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            reason = _vendored_reason(parts[depth - 1])
            if reason is None and _is_ignored(
                _ancestor_rules(rules, parts, depth), folder, is_dir=True
            ):
                reason = "ignored by .gitignore"
            if reason is not None:
                return folder, reason
        return None

    def _member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str) -> SourceItem:
        limits = self.limits
        suffix = _suffix(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            return Skipped(shown, "symbolic link in archive; not followed")
        if info.flag_bits & 0x1:
            return EncryptedFile(shown, "is password-protected inside its archive")
        if info.compress_type not in _ZIP_METHODS:
            return UnsupportedFile(
                shown, f"uses a compression method Tomes cannot read ({info.compress_type})"
            )
        size = info.file_size
        if size == 0:
            return Skipped(shown, "empty file (0 bytes)")
        reason = _skip_by_name(suffix, nested=True)
        if reason is not None:
            return Skipped(shown, reason)
        if _member_ratio_over(info, limits):
            ratio = size / max(info.compress_size, 1)
            return TooLarge(
                shown,
                f"expands {ratio:,.0f}x when unpacked, over the {limits.max_zip_ratio:g}x "
                "limit (possible zip bomb)",
            )
        limit, what = _size_limit(suffix, limits)
        if size > limit:
            return Skipped(
                shown, f"{format_size(size)} is over the {format_size(limit)} limit for {what}"
            )
        source_key = f"{self.real}!{info.filename}"
        # The CRC-32 is of the member's bytes, so unlike an mtime it cannot be racy.
        fingerprint = f"{size}:crc{info.CRC:08x}"
        if suffix not in (".pdf", ".docx") and not self.known(source_key, fingerprint):
            try:
                with archive.open(info) as fh:
                    head = fh.read(min(SNIFF_BYTES, size))
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                return CorruptFile(shown, f"is damaged inside its archive ({exc})")
            except RuntimeError:
                return EncryptedFile(shown, "is password-protected inside its archive")
            binary = _binary_reason(head, complete=size <= len(head))
            if binary is not None:
                return Skipped(shown, binary)
        return Source(
            name=shown,
            source_key=source_key,
            size=size,
            open=partial(_open_zip_member, self.real, info.filename, size, shown),
            in_codebase=True,
            fingerprint=fingerprint,
        )


# --- entry point --------------------------------------------------------------------------


def _iter_path(path: Path, limits: SourceLimits, known: KnownCheck) -> Iterator[SourceItem]:
    shown = _printable(str(path))
    try:
        st = path.stat()  # follows symlinks: the user chose this path
    except FileNotFoundError:
        if path.is_symlink():
            yield UnreadableFile(shown, "broken symbolic link (its target does not exist)")
        else:
            yield UnreadableFile(shown, "no such file or folder")
        return
    except OSError as exc:
        yield UnreadableFile(shown, os_reason(exc))
        return
    if stat.S_ISDIR(st.st_mode):
        yield from _FolderWalk(path, limits, known).walk()
    elif not stat.S_ISREG(st.st_mode):
        yield Skipped(
            _printable(path.name or str(path)), "not a regular file (a device, pipe or socket)"
        )
    elif _suffix(path.name) == ".zip":
        yield from _ZipWalk(path, limits, known).walk()
    else:
        yield _plain_file(path, st, limits, known)


def iter_sources(
    paths: Sequence[Path],
    *,
    limits: SourceLimits = DEFAULT_LIMITS,
    known: KnownCheck = _never,
) -> Iterator[SourceItem]:
    """Yield a Source, Skipped or IngestError for every file under `paths`, lazily, in order.

    See the module docstring for the rules. Never raises for a bad path or file.
    `known(source_key, fingerprint)` lets a caller that already holds some files say so: a
    file it knows by its fingerprint is not opened to sniff its first bytes (re-adding an
    unchanged codebase then only lists and stats it).
    """
    for given in paths:
        yield from _iter_path(Path(given), limits, known)
