"""Cross-process coordination on one project, with OS file locks (flock on POSIX, msvcrt
on Windows) that the OS releases when a process dies, so a crash never leaves a stale lock.

- `writing(folder)`: held (shared) by whatever writes a project for a long time (ingest,
  indexing). Several writers may hold it at once: SQLite serialises their transactions.
- `exclusive(folder, wait=…)`: what deleting a project takes; it waits for the writers to
  finish, or gives up with `ProjectBusy` saying who is writing.
- `migrating(db_path)`: an exclusive lock around schema migrations, so that two processes
  opening a project after an upgrade do not both apply the same step.

Lock files live next to what they guard (`<folder>/.tomes.lock`, `<db>.migrate.lock`) and
are created 0600.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

from engine.errors import ProjectBusy

__all__ = ["LOCK_NAME", "exclusive", "migrating", "writing"]

LOCK_NAME: Final = ".tomes.lock"
_POLL_S: Final = 0.05


def _open(path: Path) -> IO[bytes]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return os.fdopen(fd, "r+b")


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: IO[bytes], *, shared: bool) -> bool:
        # msvcrt has no shared locks: a writer takes the byte exclusively too, which only
        # means two writers on Windows take turns.
        del shared
        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[bytes], *, shared: bool) -> bool:
        try:
            fcntl.flock(
                handle.fileno(), (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
            )
        except BlockingIOError:
            return False
        return True

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _holder(handle: IO[bytes]) -> str:
    """Who wrote the lock file last ('pid 1234'), for messages."""
    with contextlib.suppress(OSError, ValueError):
        handle.seek(0)
        text = handle.read(64).decode("ascii", "replace").strip()
        if text:
            return f"process {text}"
    return "another process"


@contextlib.contextmanager
def _locked(path: Path, *, shared: bool, wait: float | None, what: str) -> Iterator[None]:
    """Hold `path` locked; wait up to `wait` seconds (None: forever) or raise ProjectBusy."""
    handle = _open(path)
    try:
        deadline = None if wait is None else time.monotonic() + wait
        while not _try_lock(handle, shared=shared):
            if deadline is not None and time.monotonic() >= deadline:
                raise ProjectBusy(
                    f"{what}: {_holder(handle)} is writing to it (adding files or indexing); "
                    "try again when it has finished, or stop it first"
                )
            time.sleep(_POLL_S)
        if not shared:
            with contextlib.suppress(OSError):
                handle.seek(0)
                handle.truncate()
                handle.write(str(os.getpid()).encode())
                handle.flush()
        elif os.name != "nt":
            with contextlib.suppress(OSError):
                # Shared holders note themselves too (the last one wins): enough for a
                # message saying which process is writing.
                os.pwrite(handle.fileno(), str(os.getpid()).encode().ljust(16), 0)
        try:
            yield
        finally:
            _unlock(handle)
    finally:
        handle.close()


def writing(folder: Path) -> contextlib.AbstractContextManager[None]:
    """Held while writing the project in `folder` for a long time (ingest, indexing); waits
    only while the project is being deleted."""
    return _locked(Path(folder) / LOCK_NAME, shared=True, wait=None, what="the project")


def exclusive(
    folder: Path, *, wait: float = 10.0, what: str = "cannot delete the project"
) -> contextlib.AbstractContextManager[None]:
    """Held while nothing else may write the project (deleting it): waits up to `wait`
    seconds for writers to finish, else raises ProjectBusy."""
    return _locked(Path(folder) / LOCK_NAME, shared=False, wait=wait, what=what)


def migrating(db_path: Path) -> contextlib.AbstractContextManager[None]:
    """Held while migrating the schema of `db_path` (other openers wait, then find nothing
    left to do)."""
    path = Path(db_path)
    return _locked(
        path.with_name(path.name + ".migrate.lock"),
        shared=False,
        wait=600.0,
        what=f"cannot upgrade {path}",
    )
