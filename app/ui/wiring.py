"""The app's event wiring: which handler each event calls, with which inputs and outputs.
Model-bound events share the "model" concurrency group (one at a time, the others wait their
turn); ingest runs one batch at a time; everything else runs freely beside them.

Every handler is wrapped here, where its outputs are known: an error becomes a warning toast
that leaves every output as it was (`app.handlers.toast_errors`), so handlers just raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from app.handlers import Handlers, api_errors, toast_errors
from app.ui.layout import Components

__all__ = ["INGEST_GROUP", "MODEL_GROUP", "wire", "wire_api"]

MODEL_GROUP = "model"  # ask, and anything else that runs the model
INGEST_GROUP = "ingest"

Outputs = Any  # a component, a list of them, or None


class _Events:
    """Connects events to handlers, each wrapped as it is wired so that an error becomes a
    toast that leaves the event's outputs as they were (`toast_errors`, told how many there
    are). Remembers each handler's wrapped form by name (`guarded`)."""

    def __init__(self) -> None:
        self.guarded: dict[str, Callable[..., Any]] = {}
        self._outputs: dict[str, int] = {}

    def guard(self, fn: Callable[..., Any], outputs: Outputs) -> Callable[..., Any]:
        n = 0 if outputs is None else len(outputs) if isinstance(outputs, list) else 1
        name = fn.__name__
        if self._outputs.setdefault(name, n) != n:
            raise ValueError(f"{name} is wired to {self._outputs[name]} and to {n} outputs")
        wrapped = self.guarded.get(name) or toast_errors(fn, n)
        self.guarded[name] = wrapped
        return wrapped

    def on(
        self,
        event: Callable[..., Any],
        fn: Callable[..., Any] | None,
        inputs: Outputs,
        outputs: Outputs,
        **kwargs: Any,
    ) -> Any:
        """A listener that is not part of the public API (the API is `_api`'s)."""
        kwargs.setdefault("api_visibility", "private")
        handler = self.guard(fn, outputs) if fn is not None else None
        return event(handler, inputs, outputs, **kwargs)

    def then(
        self, dep: Any, fn: Callable[..., Any], inputs: Outputs, outputs: Outputs, **kwargs: Any
    ) -> Any:
        """`fn` after the event `dep` (a listener's dependency) succeeded."""
        return self.on(dep.then, fn, inputs, outputs, **kwargs)


def wire(demo: gr.Blocks, h: Handlers, c: Components) -> dict[str, Callable[..., Any]]:
    """Connect every event of `demo`'s layout `c` to `h` (inside the open Blocks); returns
    the handlers as wired (errors become toasts), by name."""
    ev = _Events()
    _on, _then = ev.on, ev.then
    project_out = [c.header.project, c.welcome.panel, c.main, c.tabs, c.header.tools]
    chat_out = [
        c.ask.session,
        c.ask.chatbot,
        c.memory.msg_ids,
        c.memory.answer_id,
        c.ask.chips,
        c.ask.sources,
    ]
    viewer_out = [
        c.memory.viewer_state,
        c.viewer.head,
        c.viewer.image,
        c.viewer.text,
        c.viewer.prev_page,
        c.viewer.next_page,
    ]
    docs_out = [
        c.docs.documents,
        c.docs.remove_doc,
        c.docs.tree_start,
        c.docs.node_md,
        c.docs.node_children,
        c.memory.tree_path,
    ]
    notes_out = [
        c.notes.note,
        c.notes.note_title,
        c.notes.note_text,
        c.notes.note_chips,
        c.notes.export_notes,
        c.notes.export_answers,
    ]
    settings_out = [
        c.settings.backend,
        c.settings.model_path,
        c.settings.base_url,
        c.settings.api_model,
        c.settings.budget,
        c.settings.threads,
        c.settings.n_ctx,
        c.settings.settings_msg,
    ]
    status_out = [c.header.status, c.memory.status_seen]
    g = c.grid
    grid_table_out = [g.table, g.page_label, g.progress, c.memory.grid_state]
    grid_out = [
        g.grid, g.name, g.documents, g.all_documents, g.questions, g.preset, *grid_table_out,
    ]  # fmt: skip
    grid_viewer_out = [
        c.memory.grid_viewer_state,
        c.grid_viewer.head,
        c.grid_viewer.image,
        c.grid_viewer.text,
        c.grid_viewer.prev_page,
        c.grid_viewer.next_page,
    ]

    def reload_project(dep: Any) -> Any:
        """After the project changed: reload every tab, then the status line."""
        for fn, inputs, outputs in (
            (h.load_chat, [c.header.project], chat_out),
            (h.clear_viewer, None, viewer_out),
            (h.load_documents, [c.header.project], docs_out),
            (h.load_notes, [c.header.project], notes_out),
            (h.load_grids, [c.header.project], grid_out),
            (h.load_settings, [c.header.project], settings_out),
            (h.refresh_status, [c.header.project], status_out),
        ):
            dep = _then(dep, fn, inputs, outputs)
        return dep

    # projects
    reload_project(_on(demo.load, h.start, None, project_out))
    reload_project(_on(c.header.project.input, h.switch_project, [c.header.project], project_out))
    _on(c.header.new_project_btn.click, h.show_form, None, [c.header.new_row, c.header.new_name])
    _on(c.header.new_cancel.click, h.hide, None, c.header.new_row)
    for trigger in (c.header.new_create.click, c.header.new_name.submit):
        reload_project(
            _on(
                trigger,
                h.create_project,
                [c.header.new_name],
                [*project_out, c.header.new_name, c.header.new_row],
            )
        )
    for trigger in (c.welcome.create.click, c.welcome.name.submit):
        reload_project(
            _on(
                trigger,
                h.create_project,
                [c.welcome.name],
                [*project_out, c.welcome.name, c.header.new_row],
            )
        )
    reload_project(_on(c.welcome.sample_btn.click, h.create_sample_project, None, project_out))
    _on(
        c.header.rename_project_btn.click,
        h.show_form,
        [c.header.project],
        [c.header.rename_row, c.header.rename_name],
    )
    _on(c.header.rename_cancel.click, h.hide, None, c.header.rename_row)
    for trigger in (c.header.rename_save.click, c.header.rename_name.submit):
        _on(
            trigger,
            h.rename_project,
            [c.header.project, c.header.rename_name],
            [*project_out, c.header.rename_row],
        )
    _on(
        c.header.delete_project_btn.click,
        h.confirm_delete_project,
        [c.header.project],
        [c.header.delete_row, c.header.delete_md, c.header.delete_nonce],
    )
    _on(c.header.delete_no.click, h.hide, None, c.header.delete_row)
    reload_project(
        _on(
            c.header.delete_yes.click,
            h.delete_project,
            [c.header.project, c.header.delete_nonce],
            [*project_out, c.header.delete_row],
        )
    )

    # status line: refreshed by the timer while the background indexer works
    _on(
        c.memory.timer.tick,
        h.poll_status,
        [c.header.project, c.memory.status_seen],
        [*status_out, c.docs.tree_start],
        show_progress="hidden",
        concurrency_limit=None,
    )

    # chat sessions
    _then(
        _on(c.ask.session.input, h.load_chat, [c.header.project, c.ask.session], chat_out),
        h.clear_viewer,
        None,
        viewer_out,
    )
    _then(
        _on(c.ask.new_chat.click, h.new_session, [c.header.project], chat_out),
        h.clear_viewer,
        None,
        viewer_out,
    )
    _on(c.ask.rename_chat.click, h.show_form, None, [c.ask.rename_chat_row, c.ask.rename_chat_name])
    _on(c.ask.rename_chat_cancel.click, h.hide, None, c.ask.rename_chat_row)
    for trigger in (c.ask.rename_chat_save.click, c.ask.rename_chat_name.submit):
        _on(
            trigger,
            h.rename_session,
            [c.header.project, c.ask.session, c.ask.rename_chat_name],
            [c.ask.session, c.ask.rename_chat_row],
        )
    _on(
        c.ask.delete_chat.click,
        h.confirm_delete_session,
        [c.header.project, c.ask.session],
        [c.ask.delete_chat_row, c.ask.delete_chat_md, c.ask.delete_chat_nonce],
    )
    _on(c.ask.delete_chat_no.click, h.hide, None, c.ask.delete_chat_row)
    _on(
        c.ask.delete_chat_yes.click,
        h.delete_session,
        [c.header.project, c.ask.session, c.ask.delete_chat_nonce],
        [*chat_out, c.ask.delete_chat_row],
    )

    # the chat's documents: saved with the chat as they are chosen
    _on(
        c.ask.sources.input,
        h.set_sources,
        [c.header.project, c.ask.session, c.ask.sources],
        [c.ask.session, c.ask.status],
    )

    # asking: one model, so one answer at a time across all tabs (the others queue)
    ask_in = [
        c.header.project,
        c.ask.session,
        c.ask.question,
        c.ask.chatbot,
        c.memory.msg_ids,
        c.ask.sources,
    ]
    ask_out = [
        c.ask.chatbot,
        c.ask.question,
        c.ask.session,
        c.memory.msg_ids,
        c.memory.answer_id,
        c.ask.chips,
        c.ask.status,
    ]
    asks = [
        _on(
            trigger,
            h.ask,
            ask_in,
            ask_out,
            concurrency_id=MODEL_GROUP,
            concurrency_limit=1,
            show_progress="minimal",
        )
        for trigger in (c.ask.ask_btn.click, c.ask.question.submit)
    ]
    _on(c.ask.stop_btn.click, None, None, None, cancels=asks)
    _on(
        c.ask.chatbot.select,
        h.select_message,
        [c.header.project, c.memory.msg_ids],
        [c.memory.answer_id, c.ask.chips],
    )
    _on(c.ask.pin_btn.click, h.pin_answer, [c.header.project, c.memory.answer_id], notes_out)

    # source viewer
    _on(c.ask.chips.click, h.open_citation, [c.header.project, c.memory.answer_id], viewer_out)
    _on(
        c.viewer.prev_page.click,
        h.previous_page,
        [c.header.project, c.memory.viewer_state],
        viewer_out,
    )
    _on(
        c.viewer.next_page.click, h.next_page, [c.header.project, c.memory.viewer_state], viewer_out
    )

    # documents and the summary tree
    adding = _on(
        c.docs.add_btn.click,
        h.add_sources,
        [c.header.project, c.docs.files, c.docs.folder],
        [c.docs.file_table, c.docs.ingest_line, c.docs.files, c.docs.folder],
        concurrency_id=INGEST_GROUP,
        concurrency_limit=1,
        show_progress="minimal",
    )
    _then(
        _then(adding, h.load_documents, [c.header.project], docs_out),
        h.refresh_status,
        [c.header.project],
        status_out,
    )
    # stopping keeps the files read so far; adding the rest again skips them as unchanged
    _then(
        _on(c.docs.stop_add.click, None, None, None, cancels=[adding]),
        h.load_documents,
        [c.header.project],
        docs_out,
    )
    _on(c.docs.tab.select, h.load_documents, [c.header.project], docs_out)
    _on(
        c.docs.remove_btn.click,
        h.confirm_remove_document,
        [c.header.project, c.docs.remove_doc],
        [c.docs.remove_row, c.docs.remove_md, c.docs.remove_nonce],
    )
    _on(c.docs.remove_no.click, h.hide, None, c.docs.remove_row)
    removing = _on(
        c.docs.remove_yes.click,
        h.remove_document,
        [c.header.project, c.docs.remove_doc, c.docs.remove_nonce],
        [*docs_out, c.docs.remove_row],
    )
    _then(removing, h.refresh_status, [c.header.project], status_out)
    tree_out = [c.docs.node_md, c.docs.node_children, c.memory.tree_path]
    _on(c.docs.tree_start.input, h.open_tree, [c.header.project, c.docs.tree_start], tree_out)
    _on(
        c.docs.node_children.input,
        h.open_child,
        [c.header.project, c.memory.tree_path, c.docs.node_children],
        tree_out,
    )
    _on(c.docs.tree_up.click, h.tree_up, [c.header.project, c.memory.tree_path], tree_out)

    # review grids: a run works in the background (the model's lock decides who runs when), so
    # the page stays usable; the timer refreshes the table while it runs
    _on(g.tab.select, h.show_tab, [c.header.project, g.grid], grid_out)
    _on(g.grid.input, h.load_grids, [c.header.project, g.grid], grid_out)
    _on(g.new_grid_btn.click, h.new_grid, [c.header.project], grid_out)
    _on(g.delete_grid_btn.click, h.delete_grid, [c.header.project, c.memory.grid_state], grid_out)
    _on(g.add_preset_btn.click, h.add_preset, [g.preset, g.questions], g.questions)
    _on(g.save_preset_btn.click, h.save_preset, [g.preset_name, g.questions], g.preset)
    _on(
        g.save_grid_btn.click,
        h.save_grid,
        [c.header.project, c.memory.grid_state, g.name, g.documents, g.all_documents, g.questions],
        grid_out,
    )
    _on(
        g.run_btn.click,
        h.run_grid,
        [c.header.project, c.memory.grid_state, g.concurrency],
        grid_table_out,
    )
    _on(g.cancel_btn.click, h.cancel_grid, [c.header.project, c.memory.grid_state], grid_table_out)
    _on(
        c.memory.timer.tick,
        h.poll_grid,
        [c.header.project, c.memory.grid_state],
        grid_table_out,
        show_progress="hidden",
        concurrency_limit=None,
    )
    _on(g.prev_rows.click, h.previous_rows, [c.header.project, c.memory.grid_state], grid_table_out)
    _on(g.next_rows.click, h.next_rows, [c.header.project, c.memory.grid_state], grid_table_out)
    _on(
        g.table.click,
        h.open_cell,
        [c.header.project, c.memory.grid_state],
        [
            c.memory.cell_ref,
            g.cell_md,
            g.reviewed,
            g.flagged,
            g.edited,
            g.comment,
            *grid_viewer_out,
        ],
    )
    _on(
        g.save_review_btn.click,
        h.save_review,
        [c.header.project, c.memory.grid_state, c.memory.cell_ref, g.reviewed, g.flagged,
         g.edited, g.comment],
        [g.cell_md, *grid_table_out],
    )  # fmt: skip
    _on(
        c.grid_viewer.prev_page.click,
        h.previous_page,
        [c.header.project, c.memory.grid_viewer_state],
        grid_viewer_out,
    )
    _on(
        c.grid_viewer.next_page.click,
        h.next_page,
        [c.header.project, c.memory.grid_viewer_state],
        grid_viewer_out,
    )
    _on(
        g.export_btn.click,
        h.export_grid,
        [c.header.project, c.memory.grid_state, g.export_format],
        [g.export_file, g.export_msg],
    )

    # notes and export
    _on(c.notes.tab.select, h.load_notes, [c.header.project, c.notes.note], notes_out)
    _on(
        c.notes.note_chips.click,
        h.open_note_citation,
        [c.header.project, c.notes.note],
        [*viewer_out, c.tabs],
    )
    _on(
        c.notes.note.input,
        h.select_note,
        [c.header.project, c.notes.note],
        [c.notes.note_title, c.notes.note_text, c.notes.note_chips],
    )
    _on(
        c.notes.save_note_btn.click,
        h.save_note,
        [c.header.project, c.notes.note, c.notes.note_title, c.notes.note_text],
        notes_out,
    )
    _on(c.notes.new_note_btn.click, h.new_note, [c.header.project], notes_out)
    _on(
        c.notes.delete_note_btn.click,
        h.confirm_delete_note,
        [c.header.project, c.notes.note],
        [c.notes.delete_note_row, c.notes.delete_note_md, c.notes.delete_note_nonce],
    )
    _on(c.notes.delete_note_no.click, h.hide, None, c.notes.delete_note_row)
    _on(
        c.notes.delete_note_yes.click,
        h.delete_note,
        [c.header.project, c.notes.note, c.notes.delete_note_nonce],
        [*notes_out, c.notes.delete_note_row],
    )
    _on(
        c.notes.export_btn.click,
        h.export_report,
        [c.header.project, c.notes.export_notes, c.notes.export_answers, c.notes.export_format],
        [c.notes.export_file, c.notes.export_msg],
    )

    # settings
    settings_in = [
        c.header.project,
        c.settings.backend,
        c.settings.model_path,
        c.settings.base_url,
        c.settings.api_model,
        c.settings.budget,
        c.settings.threads,
        c.settings.n_ctx,
        c.settings.send_elsewhere,
    ]
    _on(c.settings.save_settings_btn.click, h.save_settings, settings_in, settings_out)
    _on(c.settings.reset_settings_btn.click, h.reset_settings, [c.header.project], settings_out)
    return ev.guarded


def wire_api(h: Handlers) -> None:
    """The endpoints `gradio_client` may call; every other event is private. Errors reach
    the client as `gr.Error` with a readable message (`api_errors`)."""
    gr.api(api_errors(h.api_create_project), api_name="create_project")
    gr.api(
        api_errors(h.api_add_files),
        api_name="add_files",
        concurrency_id=INGEST_GROUP,
        concurrency_limit=1,
    )
    gr.api(api_errors(h.api_ask), api_name="ask", concurrency_id=MODEL_GROUP, concurrency_limit=1)
    gr.api(api_errors(h.api_open_citation), api_name="open_citation")
