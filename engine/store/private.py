"""Private files: everything under TOMES_HOME is the user's alone (folders 0700, files 0600),
whatever the process umask, because projects hold private documents, chats and exports.

The entry points (`tomes`, the desktop app) also set umask 077, which covers files that
libraries create (Gradio's upload cache); these helpers make the engine's own files private
when it runs inside another program too (tests, embedding). On Windows they do nothing:
files there inherit the user profile's ACL.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "private_file", "private_tree", "touch_private"]

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600
_POSIX: Final = os.name == "posix"


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents, each 0700) if needed, and make it 0700."""
    path = Path(path)
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        if _POSIX:
            with contextlib.suppress(OSError):
                os.chmod(folder, DIR_MODE)
    if _POSIX:
        with contextlib.suppress(OSError):  # not ours (a shared parent): leave it
            os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make an existing file 0600 (a missing one is left missing)."""
    if _POSIX:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path, FILE_MODE)
    return Path(path)


def touch_private(path: Path) -> Path:
    """Create `path` empty with mode 0600 if it does not exist (so that what opens it later,
    e.g. SQLite, never creates it world-readable), and make it 0600 if it does."""
    path = Path(path)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
        os.close(fd)
    return private_file(path)


def private_tree(root: Path) -> None:
    """Make every folder under `root` 0700 and every file 0600."""
    if not _POSIX:
        return
    private_dir(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(folder, name), DIR_MODE)
        for name in files:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(folder, name), FILE_MODE)
