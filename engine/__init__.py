"""The Tomes engine: everything below the CLI and the UI, in the order data flows through it.

    store/      one SQLite database per project, and the only code that speaks SQL
    index/      derived indexes: BM25 (lexical), embeddings (embed/), the summary tree (tree/),
                and the background indexer
    llm/        model backends, the one loaded model, the embedded model file, prompts
    qa/         question answering: intent, retrieval, fusion, packing, citations, ask()
    review/     what a reviewer opens or exports: the source viewer, reports, review grids
    intake.py   ingesting files into a project (ingest's readers and chunker, then the store)
    workspace.py  `Workspace`, the one door the CLI and the UI use

`import engine` is light and does no I/O: the names below are imported on first use.

    import engine
    ws = engine.Workspace()
    project = ws.project("Contracts", create=True)
    for event in ws.ingest(project, [Path("lease.pdf")]):
        print(event.name, event.status)
    answer = ws.ask(project, "When does the lease end?").result()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.errors import (
        BackendUnavailable,
        Cancelled,
        GenerationFailed,
        ModelCorrupt,
        ModelError,
        ModelNotFound,
        ProjectError,
        ProjectExists,
        ProjectNotFound,
        SchemaTooNew,
        SettingsError,
        StoreError,
        TomesError,
    )
    from engine.index.indexer import IndexProgress, JobState, Phase
    from engine.intake import FileEvent, FileStatus
    from engine.qa.answer import AnswerStream
    from engine.review.grid import GridPage, GridProgress
    from engine.review.gridjobs import GridJob
    from engine.review.presets import Preset
    from engine.review.viewer import SourceView
    from engine.settings import Settings
    from engine.store.chats import ChatLog
    from engine.store.projects import Project
    from engine.types import (
        Answer,
        Citation,
        ContextItem,
        DocumentInfo,
        Message,
        Note,
        Session,
        SummaryNode,
        Timings,
        Usage,
    )
    from engine.workspace import IndexStatus, Workspace

_ERRORS = (
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
)
_TYPES = (
    "Answer",
    "Citation",
    "ContextItem",
    "DocumentInfo",
    "Message",
    "Note",
    "Session",
    "SummaryNode",
    "Timings",
    "Usage",
)
# public name -> the module that defines it
_WHERE: dict[str, str] = {
    **dict.fromkeys(_ERRORS, "engine.errors"),
    **dict.fromkeys(_TYPES, "engine.types"),
    "AnswerStream": "engine.qa.answer",
    "ChatLog": "engine.store.chats",
    "FileEvent": "engine.intake",
    "FileStatus": "engine.intake",
    "GridJob": "engine.review.gridjobs",
    "GridPage": "engine.review.grid",
    "GridProgress": "engine.review.grid",
    "Preset": "engine.review.presets",
    "IndexProgress": "engine.index.indexer",
    "IndexStatus": "engine.workspace",
    "JobState": "engine.index.indexer",
    "Phase": "engine.index.indexer",
    "Project": "engine.store.projects",
    "Settings": "engine.settings",
    "SourceView": "engine.review.viewer",
    "Workspace": "engine.workspace",
}

__all__ = [
    "Answer",
    "AnswerStream",
    "BackendUnavailable",
    "Cancelled",
    "ChatLog",
    "Citation",
    "ContextItem",
    "DocumentInfo",
    "FileEvent",
    "FileStatus",
    "GenerationFailed",
    "GridJob",
    "GridPage",
    "GridProgress",
    "IndexProgress",
    "IndexStatus",
    "JobState",
    "Message",
    "ModelCorrupt",
    "ModelError",
    "ModelNotFound",
    "Note",
    "Phase",
    "Preset",
    "Project",
    "ProjectError",
    "ProjectExists",
    "ProjectNotFound",
    "SchemaTooNew",
    "Session",
    "Settings",
    "SettingsError",
    "SourceView",
    "StoreError",
    "SummaryNode",
    "Timings",
    "TomesError",
    "Usage",
    "Workspace",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562), so `import engine` stays light."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
