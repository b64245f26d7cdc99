"""The app's handlers as its events call them: through the real layout and wiring, so an
error becomes a warning toast and leaves the event's outputs as they were."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.handlers import Handlers
from app.ui import assemble

__all__ = ["Wired", "chip"]


class Wired:
    """`Handlers` whose wired methods are the guarded callables `app.ui.wiring` connected to
    events (everything else, e.g. `.ws`, is the handlers' own)."""

    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers
        self.events = assemble(handlers).events

    def __getattr__(self, name: str) -> Any:
        wired = self.events.get(name)
        return wired if wired is not None else getattr(self.handlers, name)


def chip(index: int) -> gr.EventData:
    """The event a click on citation chip `index` sends (see the chips' click script)."""
    return gr.EventData(None, {"cite": index})
