"""Typed engine errors. Each message says what went wrong and what to do next; the CLI and the
UI turn them into messages at their edge and nowhere else.

    TomesError
    ├── SettingsError          a setting is invalid (names the setting and how to set it)
    ├── ProjectError
    │   ├── ProjectNotFound    no project by that name (lists the ones that exist)
    │   ├── ProjectExists      a project by that name already exists
    │   ├── ProjectBusy        another process is writing the project (delete waits, then this)
    │   └── ProjectGone        the project was deleted while it was being written
    ├── StoreError
    │   ├── SchemaTooNew       the project was written by a newer Tomes
    │   ├── StoreBusy          the database stayed locked by another process
    │   └── AnswerPending      an answer could not be saved yet: it is kept, saved later
    ├── ModelError
    │   ├── ModelNotFound      the model file is missing
    │   ├── ModelCorrupt       checksum mismatch / not a GGUF
    │   ├── BackendUnavailable an optional backend's packages are not installed, or server down
    │   └── GenerationFailed   the backend failed while answering
    └── Cancelled              the user stopped a long job (it can be resumed)
"""

from __future__ import annotations

__all__ = [
    "AnswerPending",
    "BackendUnavailable",
    "Cancelled",
    "GenerationFailed",
    "ModelCorrupt",
    "ModelError",
    "ModelNotFound",
    "ProjectBusy",
    "ProjectError",
    "ProjectExists",
    "ProjectGone",
    "ProjectNotFound",
    "SchemaTooNew",
    "SettingsError",
    "StoreBusy",
    "StoreError",
    "TomesError",
    "store_error",
]


class TomesError(Exception):
    """Base of every error Tomes raises on purpose."""


class SettingsError(TomesError):
    pass


class ProjectError(TomesError):
    pass


class ProjectNotFound(ProjectError):
    pass


class ProjectExists(ProjectError):
    pass


class ProjectBusy(ProjectError):
    pass


class ProjectGone(ProjectError):
    pass


class StoreError(TomesError):
    pass


class SchemaTooNew(StoreError):
    pass


class StoreBusy(StoreError):
    pass


class AnswerPending(StoreError):
    """The answer is kept (`path`) and will be saved when the database is free."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path


def store_error(exc: BaseException, *, where: str = "the project's database") -> StoreError:
    """A readable StoreError for an sqlite3 error (what happened and what to do), so a raw
    `OperationalError: database is locked` never reaches the user."""
    text = str(exc).strip() or type(exc).__name__
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return StoreBusy(
            f"{where} is busy: another Tomes process (adding files or indexing) is writing "
            "to it. Try again in a moment"
        )
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(f"{where} is read-only: check the permissions of its folder")
    if "full" in lowered:
        return StoreError(f"{where} could not be written: the disk is full")
    if "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered:
        return StoreError(
            f"{where} is damaged ({text}); a copy from before each upgrade is in the "
            "project's backups folder"
        )
    if "disk i/o" in lowered or "unable to open" in lowered:
        return StoreError(f"{where} could not be read or written ({text}): check the disk")
    return StoreError(f"{where} reported an error: {text}")


class ModelError(TomesError):
    pass


class ModelNotFound(ModelError):
    pass


class ModelCorrupt(ModelError):
    pass


class BackendUnavailable(ModelError):
    pass


class GenerationFailed(ModelError):
    pass


class Cancelled(TomesError):
    pass
