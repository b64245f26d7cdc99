"""The Tomes app's UI, built in two phases like kotaemon's pages: `layout` places every
component into typed per-tab dataclasses, `wiring` connects their events to the handlers of
`app.handlers` (no logic lives here).

    layout.py    Components: Header, Welcome, AskTab, Viewer, DocsTab, NotesTab, SettingsTab
    wiring.py    wire(): every event, each handler guarded (errors become toasts); the API
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.handlers import Handlers
from app.ui.layout import Components, layout
from app.ui.wiring import INGEST_GROUP, MODEL_GROUP, wire, wire_api

__all__ = ["INGEST_GROUP", "MODEL_GROUP", "App", "assemble", "build"]


@dataclass(frozen=True, slots=True)
class App:
    """The built app: its Blocks, its components, and each handler as its events call it
    (errors turned into toasts), by name."""

    blocks: gr.Blocks
    components: Components
    events: Mapping[str, Callable[..., Any]]


def assemble(handlers: Handlers) -> App:
    """Lay out and wire the app over `handlers` (theme and CSS are given at launch, see
    `app.server`)."""
    with gr.Blocks(
        title="Tomes",
        analytics_enabled=False,
        fill_width=True,
        delete_cache=(3600, 6 * 3600),  # uploads are copied into the project; drop the cache
    ) as demo:
        components = layout(has_sample=handlers.has_sample)
        wire_api(handlers)  # first, so the API endpoints keep their names
        events = wire(demo, handlers, components)
    return App(demo, components, events)


def build(handlers: Handlers) -> gr.Blocks:
    """The app's Blocks over `handlers`."""
    return assemble(handlers).blocks
