"""Source-viewer handlers: opening a citation (from an answer's chips or a note's) at its page
or lines with the quote marked, and turning PDF pages."""

from typing import TypedDict

import gradio as gr

from app.handlers.base import HandlerBase, Outputs, skip
from app.views import VIEWER_EMPTY, png, source_html, sources_of, viewer_head
from engine import ChatLog, Citation, SourceView, TomesError
from engine.types import locator_from_json, locator_json

__all__ = ["ViewerHandlers", "ViewerState", "chip_index"]


class ViewerState(TypedDict):
    """What the viewer shows, kept between events (a gr.State) to turn pages."""

    doc_id: str
    locator: dict[str, object]  # `locator_json` plus the doc_id
    quote: str
    verified: bool
    page: int | None


def chip_index(evt: gr.EventData) -> int | None:
    """The index of the clicked citation chip, sent by the chips' click script (`app.ui`) as
    the event's `cite` value; None for a click between the chips."""
    value = getattr(evt, "cite", None)  # EventData exposes the event's values as attributes
    return int(value) if value is not None else None


class ViewerHandlers(HandlerBase):
    def clear_viewer(self) -> Outputs:
        """Outputs: viewer state, header, page image, text, previous, next."""
        hidden = gr.update(visible=False)
        return None, "", gr.update(value=None, visible=False), VIEWER_EMPTY, hidden, hidden

    def _citation(self, project: str | None, answer_id: int | None, index: int) -> Citation:
        if answer_id is None:
            raise TomesError("choose an answer first, then one of its sources")
        with self._chatlog(project) as chats:
            answer = ChatLog.answer_of(chats.message(int(answer_id)))
        if answer is None:
            raise TomesError("this message has no sources")
        sources = sources_of(answer)
        if not 0 <= index < len(sources):
            raise TomesError(f"this answer has no source number {index + 1}")
        return sources[index]

    def view_citation(self, project: str | None, cite: Citation) -> Outputs:
        """Open `cite` in the viewer. Outputs: those of `clear_viewer`."""
        return self._show(project, self._viewer_state(cite))

    @staticmethod
    def _viewer_state(cite: Citation) -> ViewerState:
        """What the viewer needs to show a citation again (or another page of it)."""
        return {
            "doc_id": cite.doc_id or cite.locator.doc_id,
            "locator": {**locator_json(cite.locator), "doc_id": cite.locator.doc_id},
            "quote": cite.quote,
            "verified": cite.verified,
            # None: the citation's own page, or the next one when the quote runs over the
            # page break and only a page number of it stands on the first (the viewer decides)
            "page": None,
        }

    def _view(self, project: str | None, state: ViewerState) -> SourceView:
        return self.ws.open_source(
            self._project(project),
            state["doc_id"],
            locator_from_json(state["locator"]),
            quote=state["quote"],
            page=state.get("page"),
        )

    def _show(self, project: str | None, state: ViewerState) -> Outputs:
        view = self._view(project, state)
        state = {**state, "page": view.page}
        is_pdf = view.kind == "pdf" and view.page is not None
        pages = view.n_pages or 1
        image = png(view.image)
        return (
            state,
            viewer_head(view, state["quote"], bool(state.get("verified", True))),
            gr.update(value=image, visible=image is not None),
            source_html(view),
            gr.update(visible=is_pdf, interactive=is_pdf and (view.page or 1) > 1),
            gr.update(visible=is_pdf, interactive=is_pdf and (view.page or 1) < pages),
        )

    def open_citation(
        self, project: str | None, answer_id: int | None, evt: gr.EventData
    ) -> Outputs:
        """A click on a citation chip of the selected answer."""
        index = chip_index(evt)
        if index is None:
            return skip(6)  # a click between the chips
        return self.open_citation_at(project, answer_id, index)

    def open_citation_at(self, project: str | None, answer_id: int | None, index: int) -> Outputs:
        """Source `index` (from 0) of an answer in the viewer. Outputs: those of
        `clear_viewer`."""
        return self.view_citation(project, self._citation(project, answer_id, int(index)))

    def open_note_citation(
        self, project: str | None, note_id: int | None, evt: gr.EventData
    ) -> Outputs:
        """A click on a note's source chip opens it in the viewer, on the Ask tab.
        Outputs: those of `clear_viewer`, then the tabs."""
        index = chip_index(evt)
        if note_id is None or index is None:
            return skip(7)
        with self._chatlog(project) as chats:
            citations = ChatLog.note_citations(chats.note(int(note_id)))
        if not 0 <= index < len(citations):
            raise TomesError(f"this note has no source number {index + 1}")
        return (*self.view_citation(project, citations[index]), gr.update(selected="ask"))

    def previous_page(self, project: str | None, state: ViewerState | None) -> Outputs:
        return self._turn(project, state, -1)

    def next_page(self, project: str | None, state: ViewerState | None) -> Outputs:
        return self._turn(project, state, +1)

    def _turn(self, project: str | None, state: ViewerState | None, step: int) -> Outputs:
        page = state.get("page") if state else None
        if not state or not page:
            return skip(6)
        return self._show(project, {**state, "page": max(1, int(page) + step)})
