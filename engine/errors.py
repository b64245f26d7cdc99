"""Typed engine errors. Each message says what went wrong and what to do next; the CLI and the
UI turn them into messages at their edge and nowhere else.

    TomesError
    ├── SettingsError          a setting is invalid (names the setting and how to set it)
    ├── ProjectError
    │   ├── ProjectNotFound    no project by that name (lists the ones that exist)
    │   └── ProjectExists      a project by that name already exists
    ├── StoreError
    │   └── SchemaTooNew       the project was written by a newer Tomes
    ├── ModelError
    │   ├── ModelNotFound      the model file is missing
    │   ├── ModelCorrupt       checksum mismatch / not a GGUF
    │   ├── BackendUnavailable an optional backend's packages are not installed, or server down
    │   └── GenerationFailed   the backend failed while answering
    └── Cancelled              the user stopped a long job (it can be resumed)
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailable",
    "Cancelled",
    "GenerationFailed",
    "ModelCorrupt",
    "ModelError",
    "ModelNotFound",
    "ProjectError",
    "ProjectExists",
    "ProjectNotFound",
    "SchemaTooNew",
    "SettingsError",
    "StoreError",
    "TomesError",
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


class StoreError(TomesError):
    pass


class SchemaTooNew(StoreError):
    pass


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
