"""Review-grid handlers: choosing, defining and deleting grids, presets, running a grid in the
background (progress polled by the page's timer, cancel, resume), paging the table, opening a
cell (its details and its source in the grid's viewer), the reviewer's marks, and export."""

from typing import TypedDict, cast

import gradio as gr

from app.handlers.base import Outputs, skip
from app.handlers.viewer import ViewerHandlers
from app.views import VIEWER_EMPTY, cell_markdown, grid_progress_line, grid_table_html
from engine import GridPage, Project, TomesError
from engine.types import CellReview, GridColumn

__all__ = ["PAGE_ROWS", "CellRef", "GridHandlers", "GridState", "questions_text"]

#: Documents shown per page of the table: a 10,000-cell grid stays one page of HTML.
PAGE_ROWS = 25
_FORMATS = ("xlsx", "csv", "docx", "md")
_NO_CELL = "Click a cell to see its answer and open its source."


class GridState(TypedDict):
    """The open grid and the table's page, kept between events (a gr.State)."""

    grid_id: int | None
    offset: int
    seen: float | None  # the finished run the table last showed (the poll stops after it)


class CellRef(TypedDict):
    """The selected cell."""

    doc_id: str
    question: str


def questions_text(columns: tuple[GridColumn, ...] | list[GridColumn]) -> str:
    """Columns as the questions box shows them: one per line, "Label | question"."""
    return "\n".join(f"{c.label} | {c.question}" if c.label else c.question for c in columns)


def _parse(text: str | None) -> list[GridColumn]:
    out: dict[str, GridColumn] = {}
    for line in (text or "").splitlines():
        line = " ".join(line.split())
        label, sep, question = line.partition(" | ")
        if not sep:
            label, question = "", line
        question = question.strip()
        if question and question.lower() not in out:
            out[question.lower()] = GridColumn(question, label.strip())
    return list(out.values())


def _grid_id(state: GridState | None) -> int | None:
    value = state.get("grid_id") if state else None
    return int(value) if value is not None else None


def _offset(state: GridState | None) -> int:
    return int(state.get("offset", 0) or 0) if state else 0


def _state(grid_id: int | None, offset: int = 0, seen: float | None = None) -> GridState:
    return {"grid_id": grid_id, "offset": offset, "seen": seen}


class GridHandlers(ViewerHandlers):
    # ------------------------------------------------------------------ choosing and defining
    def load_grids(self, project: str | None, grid_id: int | None = None) -> Outputs:
        """Outputs (the grid form, then the table): grid dropdown, name, documents, all
        documents, questions, preset dropdown, table, page label, progress, grid state."""
        if not project:
            return (
                gr.update(choices=[], value=None), "", gr.update(choices=[], value=[]), True, "",
                gr.update(choices=[]), grid_table_html(None), "", "", _state(None),
            )  # fmt: skip
        proj = self._project(project)
        grids = self.ws.grids(proj)
        ids = [g.id for g in grids]
        if grid_id not in ids:
            grid_id = ids[0] if ids else None
        docs = self.ws.documents(proj)
        doc_choices = [(d.name, d.id) for d in docs]
        presets = [p.name for p in self.ws.presets()]
        grid_choices = [(g.name, g.id) for g in grids]
        if grid_id is None:
            return (
                gr.update(choices=grid_choices, value=None), "",
                gr.update(choices=doc_choices, value=[]), True, "",
                gr.update(choices=presets, value=None),
                grid_table_html(None, empty="No grid yet: name one, add questions (or a preset) "
                                "and save it."), "", "", _state(None),
            )  # fmt: skip
        grid = next(g for g in grids if g.id == grid_id)
        chosen = [r.doc_id for r in grid.documents if r.doc_id in {d.id for d in docs}]
        return (
            gr.update(choices=grid_choices, value=grid_id),
            grid.name,
            gr.update(choices=doc_choices, value=chosen),
            not grid.documents,
            questions_text(grid.columns),
            gr.update(choices=presets, value=None),
            *self._table(proj, _state(grid_id)),
        )

    def show_tab(self, project: str | None, grid_id: int | None = None) -> Outputs:
        """The Grid tab opened: as `load_grids`, except that with no grid to show, a name and
        questions the user has typed already are kept (the tab's load can arrive after the
        first keystrokes)."""
        out = list(self.load_grids(project, grid_id))
        state = out[-1]
        if _grid_id(cast("GridState", state) if isinstance(state, dict) else None) is None:
            out[1] = out[4] = gr.skip()
        return tuple(out)

    def new_grid(self, project: str | None) -> Outputs:
        """A blank form for a new grid. Outputs: those of `load_grids`."""
        proj = self._project(project)
        docs = [(d.name, d.id) for d in self.ws.documents(proj)]
        presets = [p.name for p in self.ws.presets()]
        grids = [(g.name, g.id) for g in self.ws.grids(proj)]
        return (
            gr.update(choices=grids, value=None), "", gr.update(choices=docs, value=[]), True,
            "", gr.update(choices=presets, value=None),
            grid_table_html(None, empty="Name the grid, add questions (or a preset), save it."),
            "", "", _state(None),
        )  # fmt: skip

    def add_preset(self, preset: str | None, questions: str | None) -> str:
        """Append a preset's questions to the questions box. Output: the questions box."""
        if not preset:
            raise TomesError("choose a preset first")
        have = _parse(questions)
        columns = have + [c for c in self.ws.preset(preset).columns if c not in have]
        return questions_text(_parse(questions_text(columns)))

    def save_preset(self, preset_name: str | None, questions: str | None) -> object:
        """Save the questions box as the user's own preset. Output: the preset dropdown."""
        saved = self.ws.save_preset(preset_name or "", _parse(questions))
        gr.Info(f"Saved the preset “{saved.name}” ({len(saved.columns)} questions).")
        return gr.update(choices=[p.name for p in self.ws.presets()], value=saved.name)

    def save_grid(
        self,
        project: str | None,
        state: GridState | None,
        name: str | None,
        documents: list[str] | None,
        all_documents: bool,
        questions: str | None,
    ) -> Outputs:
        """Create the grid (or change the open one). Outputs: those of `load_grids`."""
        proj = self._project(project)
        grid_id = _grid_id(state)
        chosen = [] if all_documents else list(documents or [])
        if not all_documents and not chosen:
            raise TomesError("choose the documents to review, or tick “All documents”")
        grid = self.ws.save_grid(proj, name or "", _parse(questions), chosen, grid_id=grid_id)
        gr.Info(f"Saved the grid “{grid.name}”. Run it to fill its cells.")
        return self.load_grids(project, grid.id)

    def delete_grid(self, project: str | None, state: GridState | None) -> Outputs:
        """Outputs: those of `load_grids`."""
        grid_id = _grid_id(state)
        if grid_id is None:
            raise TomesError("there is no grid to delete")
        self.ws.delete_grid(self._project(project), int(grid_id))
        return self.load_grids(project)

    # ------------------------------------------------------------------ the table
    def _page(self, proj: Project, state: GridState) -> GridPage | None:
        grid_id = state.get("grid_id")
        if grid_id is None:
            return None
        return self.ws.grid_page(proj, int(grid_id), offset=state.get("offset", 0), limit=PAGE_ROWS)

    def _table(self, proj: Project, state: GridState) -> Outputs:
        """Outputs: table, page label, progress, grid state."""
        page = self._page(proj, state)
        if page is None:
            return grid_table_html(None), "", "", state
        job = self.ws.grid_job(proj, page.grid.id)
        first = page.offset + 1 if page.rows else 0
        label = f"Documents {first}–{page.offset + len(page.rows)} of {page.total_rows}"
        state = _state(page.grid.id, page.offset, job.finished_at)
        return grid_table_html(page), label, grid_progress_line(page, job), state

    def poll_grid(self, project: str | None, state: GridState | None) -> Outputs:
        """The timer's refresh: while a run goes on, cells fill in; once it ends, one last
        refresh, then nothing until the next run. Outputs: those of `_table`."""
        grid_id = _grid_id(state)
        if not project or state is None or grid_id is None:
            return skip(4)
        proj = self._project(project)
        job = self.ws.grid_job(proj, int(grid_id))
        if not job.running and job.finished_at == state.get("seen"):
            return skip(4)
        return self._table(proj, state)

    def turn_page(self, project: str | None, state: GridState | None, step: int) -> Outputs:
        if state is None or state.get("grid_id") is None:
            return skip(4)
        proj = self._project(project)
        offset = max(0, int(state.get("offset", 0)) + step * PAGE_ROWS)
        page = self.ws.grid_page(proj, int(state["grid_id"] or 0), offset=0, limit=0)
        if offset >= page.total_rows:
            return skip(4)
        return self._table(proj, _state(state["grid_id"], offset, state.get("seen")))

    def previous_rows(self, project: str | None, state: GridState | None) -> Outputs:
        return self.turn_page(project, state, -1)

    def next_rows(self, project: str | None, state: GridState | None) -> Outputs:
        return self.turn_page(project, state, +1)

    # ------------------------------------------------------------------ running
    def run_grid(
        self, project: str | None, state: GridState | None, concurrency: float | None
    ) -> Outputs:
        """Start (or resume) the open grid in the background. Outputs: those of `_table`."""
        grid_id = _grid_id(state)
        if grid_id is None:
            raise TomesError("save the grid first, then run it")
        proj = self._project(project)
        lanes = max(1, min(64, int(concurrency or 1)))
        if not self.ws.grid_jobs.start(proj, int(grid_id), concurrency=lanes):
            gr.Info("This grid is already running.")
        return self._table(proj, _state(int(grid_id), _offset(state), None))

    def cancel_grid(self, project: str | None, state: GridState | None) -> Outputs:
        """Stop the run after the cells in flight (they are kept). Outputs: those of
        `_table`."""
        grid_id = _grid_id(state)
        if grid_id is None:
            return skip(4)
        proj = self._project(project)
        self.ws.cancel_grid(proj, int(grid_id), wait=60.0)
        assert state is not None
        return self._table(proj, state)

    # ------------------------------------------------------------------ one cell
    def open_cell(self, project: str | None, state: GridState | None, evt: gr.EventData) -> Outputs:
        """A click on a cell: its details and review marks, and its first source in the
        grid's viewer. Outputs: cell ref, cell details, reviewed, flagged, edited answer,
        comment, then those of `clear_viewer`."""
        where = getattr(evt, "cell", None)
        if not where or state is None or state.get("grid_id") is None:
            return skip(12)
        i, j = (int(x) for x in str(where).split(","))
        proj = self._project(project)
        page = self._page(proj, state)
        if page is None or not (0 <= i < len(page.rows) and 0 <= j < len(page.grid.columns)):
            return skip(12)
        row = page.rows[i]
        cell, review = row.cells[j], row.reviews[j]
        ref: CellRef = {"doc_id": row.doc_id, "question": cell.question}
        details = self._cell_outputs(cell, review, page.grid.columns[j].title)
        if cell.citations:
            viewer = self.view_citation(project, cell.citations[0])
        else:
            hidden = gr.update(visible=False)
            note = ("This cell cites nothing: the document does not state it." if
                    cell.state.value == "not_found" else VIEWER_EMPTY)  # fmt: skip
            viewer = (None, "", gr.update(value=None, visible=False),
                      f'<div class="tomes-empty">{note}</div>', hidden, hidden)  # fmt: skip
        return (ref, *details, *viewer)

    @staticmethod
    def _cell_outputs(cell: object, review: CellReview, label: str) -> Outputs:
        return (
            cell_markdown(cell, review, label),  # type: ignore[arg-type]
            review.reviewed,
            review.flagged,
            review.edited or "",
            review.comment,
        )

    def save_review(
        self,
        project: str | None,
        state: GridState | None,
        ref: CellRef | None,
        reviewed: bool,
        flagged: bool,
        edited: str | None,
        comment: str | None,
    ) -> Outputs:
        """Save the reviewer's marks on the selected cell (an empty edited answer means the
        model's). Outputs: cell details, then those of `_table`."""
        if not ref or state is None or state.get("grid_id") is None:
            raise TomesError("click a cell of the grid first")
        proj = self._project(project)
        grid_id = int(state["grid_id"] or 0)
        review = self.ws.review_cell(
            proj, grid_id, ref["doc_id"], ref["question"], reviewed=reviewed, flagged=flagged,
            edited=(edited or "").strip() or None, comment=comment or "",
        )  # fmt: skip
        page = self.ws.grid_page(proj, grid_id)
        details = _NO_CELL
        for row in page.rows:
            if row.doc_id == ref["doc_id"]:
                j = page.grid.questions.index(ref["question"])
                details = cell_markdown(row.cells[j], review, page.grid.columns[j].title)
        gr.Info("Saved.")
        return (details, *self._table(proj, state))

    # ------------------------------------------------------------------ export
    def export_grid(self, project: str | None, state: GridState | None, fmt: str | None) -> Outputs:
        """Outputs: the file, the message."""
        grid_id = _grid_id(state)
        if grid_id is None:
            raise TomesError("open a grid first")
        fmt = fmt if fmt in _FORMATS else "xlsx"
        proj = self._project(project)
        grid = self.ws.grid(proj, int(grid_id))
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in grid.name)[:60]
        target = self.exports_dir / f"{safe or 'grid'}.{fmt}"
        path = self.ws.export_grid(proj, int(grid_id), target, fmt=fmt)  # type: ignore[arg-type]
        return gr.update(value=str(path), visible=True), f"Exported “{grid.name}” to {path.name}."
