"""What the app does when the user acts: functions that take UI values, call the engine (only
through `Workspace` and the `engine` package's public names) and return UI values (component
updates, HTML, chat messages). `app.ui` lays out and wires; `app.views` renders engine values
as HTML and Markdown; `app.prefs` remembers the last project.

    base.py        HandlerBase (the Workspace), user_message, the error guards
    projects.py    page load, choosing / creating / renaming / deleting projects
    chat.py        chat sessions and asking
    viewer.py      the source viewer
    documents.py   adding sources, the documents table, the summary tree, the status line
    notes.py       notes and report export
    grid.py        review grids: define, run (background), page, open a cell, review, export
    settings.py    per-project model settings
    api.py         the `gradio_client` endpoints

Handlers raise engine errors (`TomesError`, `IngestError`); the wiring (`app.ui.wiring`) turns
each into a short warning toast that leaves the event's outputs as they were, never a stack
trace, and anything unexpected is logged and shown as "Something went wrong: …". The two
streaming handlers (`ask`, `add_sources`) also report their errors in place. Nothing here keeps
global state: one `Handlers` per app holds the `Workspace`; per-tab state travels in `gr.State`.
"""

from app.handlers.api import ApiHandlers
from app.handlers.base import (
    SAMPLE_PDF,
    SAMPLE_PROJECT,
    SAMPLE_QUESTIONS,
    api_errors,
    toast_errors,
    user_message,
)
from app.handlers.chat import ChatHandlers, chat_messages
from app.handlers.documents import DocumentHandlers
from app.handlers.grid import GridHandlers
from app.handlers.notes import NotesHandlers
from app.handlers.projects import ProjectHandlers
from app.handlers.settings import SettingsHandlers

__all__ = [
    "SAMPLE_PDF",
    "SAMPLE_PROJECT",
    "SAMPLE_QUESTIONS",
    "Handlers",
    "api_errors",
    "chat_messages",
    "toast_errors",
    "user_message",
]


class Handlers(
    ProjectHandlers,
    ChatHandlers,
    DocumentHandlers,
    NotesHandlers,
    SettingsHandlers,
    GridHandlers,
    ApiHandlers,  # and, through it, the viewer's handlers
):
    """Every action of the app, over one `Workspace`: the feature handlers in one object, as
    `app.ui` wires them. Method outputs are listed in their docstrings in wiring order."""
