"""The Tomes app's layout and event wiring. No logic lives here: every event calls a method
of `app.handlers.Handlers`, which talks to the engine.

Built in two phases, like kotaemon's pages: `_layout` places the components, `_wire` connects
them. Model-bound events share the "model" concurrency group (one at a time, the others wait
their turn); ingest runs one batch at a time; everything else runs freely beside them.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gradio as gr

from app.handlers import SAMPLE_QUESTIONS, Handlers
from app.views import DOC_HEADERS, chips_html, file_table_html

__all__ = ["MODEL_GROUP", "build"]

MODEL_GROUP = "model"  # ask, and anything else that runs the model
INGEST_GROUP = "ingest"

# A click on a chip sends the chip's index to Python (gr.HTML's `trigger`); the listener is
# on the wrapper, so chips rendered later are covered too.
_CHIPS_JS = """
element.addEventListener('click', (event) => {
  const chip = event.target.closest('[data-cite]');
  if (chip) trigger('click', {cite: Number(chip.dataset.cite)});
});
"""

# Bring the first highlight into view whenever the viewer shows a new source.
_SCROLL_TO_MARK_JS = """
watch('value', () => {
  const box = element.querySelector('.tomes-source');
  const mark = element.querySelector('mark');
  if (box && mark) box.scrollTop = Math.max(0, mark.offsetTop - 80);
});
"""

_WELCOME = """
## Welcome to Tomes

Tomes reads long documents (contracts, filings, reports, whole codebases) **on this computer**
and answers your questions with citations to the exact page or line. Nothing is sent anywhere.

1. Create a project and add documents (PDF, Word, text files, a folder or a .zip of code).
2. Ask a question. Each answer lists its sources; click one to see the page with the quoted
   words highlighted.
3. Pin useful answers as notes and export them as a Word or Markdown report.
"""

_CHAT_PLACEHOLDER = (
    "**Ask about your documents.** Answers cite their sources; click a source below to open "
    "it.<br>For example: " + " · ".join(f"_{q}_" for q in SAMPLE_QUESTIONS)
)


def build(handlers: Handlers) -> gr.Blocks:
    """The app's Blocks (theme and CSS are given at launch, see `app.server`)."""
    with gr.Blocks(
        title="Tomes",
        analytics_enabled=False,
        fill_width=True,
        delete_cache=(3600, 6 * 3600),  # uploads are copied into the project; drop the cache
    ) as demo:
        c = _layout(handlers)
        _api(handlers)  # first, so the API endpoints keep their names
        _wire(demo, handlers, c)
    return demo


# ---------------------------------------------------------------------------------- layout
def _layout(h: Handlers) -> SimpleNamespace:
    c = SimpleNamespace()
    c.msg_ids = gr.State([])
    c.answer_id = gr.State(None)
    c.viewer_state = gr.State(None)
    c.tree_path = gr.State([])
    c.status_seen = gr.State(None)
    c.timer = gr.Timer(2.0)

    _header(c)
    with gr.Column(visible=False, elem_id="welcome", elem_classes="tomes-welcome") as c.welcome:
        gr.Markdown(_WELCOME)
        with gr.Row(equal_height=False, elem_classes="tomes-inline"):
            c.sample_btn = gr.Button(
                "Try it with a sample agreement",
                variant="primary",
                visible=h.has_sample,
                elem_id="sample-btn",
                scale=0,
                min_width=320,
            )
            c.welcome_name = gr.Textbox(
                label="Or name a new project",
                placeholder="e.g. Acme supply contracts",
                elem_id="welcome-name",
                scale=3,
            )
            c.welcome_create = gr.Button("Create project", elem_id="welcome-create", scale=0)
    with gr.Column(visible=False, elem_id="main") as c.main, gr.Tabs(elem_id="tabs") as c.tabs:
        with gr.Tab("Ask", id="ask", elem_id="tab-ask"):
            _ask_tab(c)
        with gr.Tab("Documents", id="docs", elem_id="tab-docs") as c.docs_tab:
            _docs_tab(c)
        with gr.Tab("Notes & export", id="notes", elem_id="tab-notes") as c.notes_tab:
            _notes_tab(c)
        with gr.Tab("Settings", id="settings", elem_id="tab-settings"):
            _settings_tab(c)
    return c


def _header(c: SimpleNamespace) -> None:
    with gr.Row(elem_id="tomes-header", equal_height=True):
        gr.HTML(
            '<div class="tomes-brand"><span class="mark">T</span><span class="words">'
            '<span class="name">Tomes</span><span class="tag">Private document analysis, '
            "on this computer</span></span></div>",
            js_on_load=None,
            scale=3,
            min_width=300,
        )
        c.project = gr.Dropdown(
            label="Project",
            show_label=False,
            container=False,
            choices=[],
            allow_custom_value=True,
            elem_id="project-select",
            scale=2,
            min_width=240,
        )
        c.new_project_btn = gr.Button(
            "New project", size="sm", elem_id="new-project-btn", scale=0, min_width=110
        )
        with (
            gr.Column(visible=False, scale=0, min_width=190, elem_id="project-tools") as c.tools,
            gr.Row(),
        ):
            c.rename_project_btn = gr.Button("Rename", size="sm", scale=0, min_width=80)
            c.delete_project_btn = gr.Button(
                "Delete", size="sm", variant="stop", scale=0, min_width=80
            )
    c.status = gr.Markdown("", elem_id="index-status")
    with gr.Row(visible=False, elem_classes="tomes-form tomes-inline") as c.new_row:
        c.new_name = gr.Textbox(
            label="New project name",
            placeholder="e.g. Acme supply contracts",
            elem_id="new-project-name",
            scale=3,
        )
        c.new_create = gr.Button("Create", variant="primary", elem_id="create-project-btn", scale=0)
        c.new_cancel = gr.Button("Cancel", scale=0)
    with gr.Row(visible=False, elem_classes="tomes-form tomes-inline") as c.rename_row:
        c.rename_name = gr.Textbox(label="Rename the project to", scale=3)
        c.rename_save = gr.Button("Rename", variant="primary", scale=0)
        c.rename_cancel = gr.Button("Cancel", scale=0)
    with gr.Row(visible=False, elem_classes="tomes-form tomes-danger tomes-inline") as c.delete_row:
        c.delete_md = gr.Markdown()
        c.delete_yes = gr.Button("Delete project", variant="stop", scale=0)
        c.delete_no = gr.Button("Cancel", scale=0)


def _ask_tab(c: SimpleNamespace) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=6, min_width=420):
            with gr.Row(equal_height=False, elem_classes="tomes-inline"):
                c.session = gr.Dropdown(
                    label="Chat",
                    show_label=False,
                    container=False,
                    choices=[],
                    allow_custom_value=True,
                    elem_id="session-select",
                    scale=3,
                )
                c.new_chat = gr.Button(
                    "New chat", size="sm", scale=0, min_width=90, elem_id="new-chat-btn"
                )
                c.rename_chat = gr.Button("Rename", size="sm", scale=0, min_width=80)
                c.delete_chat = gr.Button(
                    "Delete", size="sm", variant="stop", scale=0, min_width=80
                )
            with gr.Row(visible=False, elem_classes="tomes-form tomes-inline") as c.rename_chat_row:
                c.rename_chat_name = gr.Textbox(label="Rename this chat to", scale=3)
                c.rename_chat_save = gr.Button("Rename", variant="primary", scale=0)
                c.rename_chat_cancel = gr.Button("Cancel", scale=0)
            with gr.Row(
                visible=False, elem_classes="tomes-form tomes-danger tomes-inline"
            ) as c.delete_chat_row:
                c.delete_chat_md = gr.Markdown()
                c.delete_chat_yes = gr.Button("Delete chat", variant="stop", scale=0)
                c.delete_chat_no = gr.Button("Cancel", scale=0)
            c.chatbot = gr.Chatbot(
                label="Answers",
                show_label=False,
                elem_id="chat",
                height=480,
                placeholder=_CHAT_PLACEHOLDER,
                feedback_options=None,
                buttons=["copy"],
                layout="panel",
            )
            with gr.Row(equal_height=False, elem_classes="tomes-sources-row"):
                c.chips = gr.HTML(
                    chips_html([]),
                    js_on_load=_CHIPS_JS,
                    elem_id="chips",
                    scale=5,
                )
                c.pin_btn = gr.Button(
                    "Pin as note", size="sm", elem_id="pin-btn", scale=0, min_width=120
                )
            with gr.Row(equal_height=True):
                c.question = gr.Textbox(
                    show_label=False,
                    placeholder="Ask a question about this project's documents",
                    lines=2,
                    max_lines=6,
                    elem_id="question",
                    scale=5,
                )
                with gr.Column(scale=0, min_width=120):
                    c.ask_btn = gr.Button("Ask", variant="primary", elem_id="ask-btn")
                    c.stop_btn = gr.Button("Stop", size="sm", elem_id="stop-btn")
        with gr.Column(scale=5, min_width=380, elem_id="viewer", elem_classes="tomes-viewer"):
            gr.Markdown("#### Source viewer")
            c.viewer_head = gr.HTML("", js_on_load=None, elem_id="viewer-head")
            with gr.Row(equal_height=True):
                c.prev_page = gr.Button(
                    "◀ Previous page", size="sm", visible=False, elem_id="prev-page"
                )
                c.next_page = gr.Button(
                    "Next page ▶", size="sm", visible=False, elem_id="next-page"
                )
            c.viewer_text = gr.HTML("", js_on_load=_SCROLL_TO_MARK_JS, elem_id="viewer-text")
            c.viewer_image = gr.Image(
                type="pil",
                format="png",
                interactive=False,
                show_label=False,
                visible=False,
                elem_id="viewer-image",
                buttons=["fullscreen"],
                height=640,
            )


def _docs_tab(c: SimpleNamespace) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=320):
            gr.Markdown("#### Add documents")
            c.files = gr.File(
                label="Upload PDF, Word, text or .zip files",
                file_count="multiple",
                type="filepath",
                elem_id="upload",
                height=150,
            )
            c.folder = gr.Textbox(
                label="…or add a folder on this computer",
                placeholder="/full/path/to/folder (respects .gitignore)",
                elem_id="folder",
            )
            with gr.Row():
                c.add_btn = gr.Button("Add to project", variant="primary", elem_id="add-btn")
                c.stop_add = gr.Button("Stop", scale=0, min_width=90)
        with gr.Column(scale=6, min_width=380):
            c.ingest_line = gr.Markdown("", elem_id="ingest-progress")
            c.file_table = gr.HTML(file_table_html([]), js_on_load=None, elem_id="file-status")
    gr.Markdown("#### Documents in this project")
    c.documents = gr.Dataframe(
        headers=DOC_HEADERS,
        value=[],
        interactive=False,
        wrap=True,
        elem_id="documents",
        max_height=360,
    )
    with gr.Row(equal_height=False, elem_classes="tomes-inline"):
        c.remove_doc = gr.Dropdown(label="Remove a document", choices=[], scale=3)
        c.remove_btn = gr.Button("Remove…", variant="stop", size="md", scale=0, min_width=120)
    with gr.Row(visible=False, elem_classes="tomes-form tomes-danger tomes-inline") as c.remove_row:
        c.remove_md = gr.Markdown()
        c.remove_yes = gr.Button("Remove document", variant="stop", scale=0)
        c.remove_no = gr.Button("Cancel", scale=0)
    gr.Markdown("#### Summary tree")
    with gr.Row(equal_height=False, elem_classes="tomes-inline"):
        c.tree_start = gr.Dropdown(label="Read the summary of", choices=[], scale=3)
        c.tree_up = gr.Button("Up one level", size="sm", scale=0)
    c.node_md = gr.Markdown("", elem_id="tree-node", elem_classes="tomes-node")
    c.node_children = gr.Radio(label="Its parts (click one to read it)", choices=[], visible=False)


def _notes_tab(c: SimpleNamespace) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=6):
            gr.Markdown("#### Notes")
            with gr.Row(equal_height=False, elem_classes="tomes-inline"):
                c.note = gr.Dropdown(label="Note", choices=[], elem_id="note-select", scale=3)
                c.new_note_btn = gr.Button("New note", size="sm", scale=0)
            c.note_title = gr.Textbox(label="Title", elem_id="note-title")
            c.note_text = gr.Textbox(label="Text", lines=8, max_lines=30, elem_id="note-text")
            c.note_chips = gr.HTML("", js_on_load=_CHIPS_JS, elem_id="note-sources")
            with gr.Row():
                c.save_note_btn = gr.Button("Save note", variant="primary", scale=0)
                c.delete_note_btn = gr.Button("Delete note", variant="stop", scale=0)
        with gr.Column(scale=4):
            gr.Markdown("#### Export a report")
            c.export_notes = gr.CheckboxGroup(
                label="Notes to include", choices=[], elem_id="export-notes"
            )
            c.export_answers = gr.CheckboxGroup(
                label="Answers to include", choices=[], elem_id="export-answers"
            )
            c.export_format = gr.Radio(
                label="Format",
                choices=[("Word (.docx)", "docx"), ("Markdown (.md)", "md")],
                value="docx",
                elem_id="export-format",
            )
            c.export_btn = gr.Button("Export report", variant="primary", elem_id="export-btn")
            c.export_msg = gr.Markdown("", elem_id="export-msg")
            c.export_file = gr.File(
                label="Report", visible=False, interactive=False, elem_id="export-file"
            )


def _settings_tab(c: SimpleNamespace) -> None:
    gr.Markdown(
        "#### Model settings for this project\n"
        "Leave the model file empty to use the model that comes with Tomes."
    )
    with gr.Row():
        c.backend = gr.Dropdown(
            label="Backend",
            choices=[
                ("llama.cpp (local .gguf file)", "llama.cpp"),
                ("Transformers / torch (local folder)", "torch"),
                ("OpenAI-compatible server (vLLM, llama.cpp server, Ollama)", "openai"),
                ("Fake (for demos and tests)", "fake"),
            ],
            elem_id="set-backend",
        )
        c.model_path = gr.Textbox(label="Model file (.gguf) or folder", elem_id="set-path")
    with gr.Row():
        c.base_url = gr.Textbox(
            label="Server URL (OpenAI-compatible backend)", placeholder="http://127.0.0.1:8000/v1"
        )
        c.api_model = gr.Textbox(label="Model name on the server")
    with gr.Row():
        c.budget = gr.Number(
            label="Context budget (tokens per answer)", precision=0, elem_id="set-budget"
        )
        c.n_ctx = gr.Number(label="Model context window (n_ctx)", precision=0, elem_id="set-n-ctx")
        c.threads = gr.Number(label="CPU threads (0 = automatic)", precision=0)
    with gr.Row():
        c.save_settings_btn = gr.Button(
            "Save settings", variant="primary", size="md", scale=0, elem_id="save-settings"
        )
        c.reset_settings_btn = gr.Button("Back to defaults", size="md", scale=0, min_width=160)
    c.settings_msg = gr.Markdown("", elem_id="settings-msg")


# ---------------------------------------------------------------------------------- wiring
def _on(event: Any, fn: Any, inputs: Any, outputs: Any, **kwargs: Any) -> Any:
    """An event listener that is not part of the public API (the API is `_api`'s)."""
    kwargs.setdefault("api_visibility", "private")
    return event(fn, inputs, outputs, **kwargs)


def _wire(demo: gr.Blocks, h: Handlers, c: SimpleNamespace) -> None:
    project_out = [c.project, c.welcome, c.main, c.tabs, c.tools]
    chat_out = [c.session, c.chatbot, c.msg_ids, c.answer_id, c.chips]
    viewer_out = [
        c.viewer_state,
        c.viewer_head,
        c.viewer_image,
        c.viewer_text,
        c.prev_page,
        c.next_page,
    ]
    docs_out = [c.documents, c.remove_doc, c.tree_start, c.node_md, c.node_children, c.tree_path]
    notes_out = [c.note, c.note_title, c.note_text, c.note_chips, c.export_notes, c.export_answers]
    settings_out = [
        c.backend,
        c.model_path,
        c.base_url,
        c.api_model,
        c.budget,
        c.threads,
        c.n_ctx,
        c.settings_msg,
    ]
    status_out = [c.status, c.status_seen]

    def reload_project(dep: Any) -> Any:
        return (
            dep.then(h.load_chat, [c.project], chat_out, api_visibility="private")
            .then(h.clear_viewer, None, viewer_out, api_visibility="private")
            .then(h.load_documents, [c.project], docs_out, api_visibility="private")
            .then(h.load_notes, [c.project], notes_out, api_visibility="private")
            .then(h.load_settings, [c.project], settings_out, api_visibility="private")
            .then(h.refresh_status, [c.project], status_out, api_visibility="private")
        )

    # projects
    reload_project(_on(demo.load, h.start, None, project_out))
    reload_project(_on(c.project.input, h.switch_project, [c.project], project_out))
    _on(c.new_project_btn.click, h.show_form, None, [c.new_row, c.new_name])
    _on(c.new_cancel.click, h.hide, None, c.new_row)
    for trigger in (c.new_create.click, c.new_name.submit):
        reload_project(
            _on(trigger, h.create_project, [c.new_name], [*project_out, c.new_name, c.new_row])
        )
    for trigger in (c.welcome_create.click, c.welcome_name.submit):
        reload_project(
            _on(
                trigger,
                h.create_project,
                [c.welcome_name],
                [*project_out, c.welcome_name, c.new_row],
            )
        )
    reload_project(_on(c.sample_btn.click, h.create_sample_project, None, project_out))
    _on(c.rename_project_btn.click, h.show_form, [c.project], [c.rename_row, c.rename_name])
    _on(c.rename_cancel.click, h.hide, None, c.rename_row)
    for trigger in (c.rename_save.click, c.rename_name.submit):
        _on(trigger, h.rename_project, [c.project, c.rename_name], [*project_out, c.rename_row])
    _on(
        c.delete_project_btn.click,
        h.confirm_delete_project,
        [c.project],
        [c.delete_row, c.delete_md],
    )
    _on(c.delete_no.click, h.hide, None, c.delete_row)
    reload_project(
        _on(c.delete_yes.click, h.delete_project, [c.project], [*project_out, c.delete_row])
    )

    # status line: refreshed by the timer while the background indexer works
    _on(
        c.timer.tick,
        h.poll_status,
        [c.project, c.status_seen],
        [*status_out, c.tree_start],
        show_progress="hidden",
        concurrency_limit=None,
    )

    # chat sessions
    _on(c.session.input, h.load_chat, [c.project, c.session], chat_out).then(
        h.clear_viewer, None, viewer_out, api_visibility="private"
    )
    _on(c.new_chat.click, h.new_session, [c.project], chat_out).then(
        h.clear_viewer, None, viewer_out, api_visibility="private"
    )
    _on(c.rename_chat.click, h.show_form, None, [c.rename_chat_row, c.rename_chat_name])
    _on(c.rename_chat_cancel.click, h.hide, None, c.rename_chat_row)
    for trigger in (c.rename_chat_save.click, c.rename_chat_name.submit):
        _on(
            trigger,
            h.rename_session,
            [c.project, c.session, c.rename_chat_name],
            [c.session, c.rename_chat_row],
        )
    _on(
        c.delete_chat.click,
        h.confirm_delete_session,
        [c.project, c.session],
        [c.delete_chat_row, c.delete_chat_md],
    )
    _on(c.delete_chat_no.click, h.hide, None, c.delete_chat_row)
    _on(
        c.delete_chat_yes.click,
        h.delete_session,
        [c.project, c.session],
        [*chat_out, c.delete_chat_row],
    )

    # asking: one model, so one answer at a time across all tabs (the others queue)
    ask_in = [c.project, c.session, c.question, c.chatbot, c.msg_ids]
    ask_out = [c.chatbot, c.question, c.session, c.msg_ids, c.answer_id, c.chips]
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
        for trigger in (c.ask_btn.click, c.question.submit)
    ]
    _on(c.stop_btn.click, None, None, None, cancels=asks)
    _on(c.chatbot.select, h.select_message, [c.project, c.msg_ids], [c.answer_id, c.chips])
    _on(c.pin_btn.click, h.pin_answer, [c.project, c.answer_id], notes_out)

    # source viewer
    _on(c.chips.click, h.open_citation, [c.project, c.answer_id], viewer_out)
    _on(c.prev_page.click, h.previous_page, [c.project, c.viewer_state], viewer_out)
    _on(c.next_page.click, h.next_page, [c.project, c.viewer_state], viewer_out)

    # documents and the summary tree
    adding = _on(
        c.add_btn.click,
        h.add_sources,
        [c.project, c.files, c.folder],
        [c.file_table, c.ingest_line, c.files, c.folder],
        concurrency_id=INGEST_GROUP,
        concurrency_limit=1,
        show_progress="minimal",
    )
    adding.then(h.load_documents, [c.project], docs_out, api_visibility="private").then(
        h.refresh_status, [c.project], status_out, api_visibility="private"
    )
    # stopping keeps the files read so far; adding the rest again skips them as unchanged
    _on(c.stop_add.click, None, None, None, cancels=[adding]).then(
        h.load_documents, [c.project], docs_out, api_visibility="private"
    )
    _on(c.docs_tab.select, h.load_documents, [c.project], docs_out)
    _on(
        c.remove_btn.click,
        h.confirm_remove_document,
        [c.project, c.remove_doc],
        [c.remove_row, c.remove_md],
    )
    _on(c.remove_no.click, h.hide, None, c.remove_row)
    _on(
        c.remove_yes.click, h.remove_document, [c.project, c.remove_doc], [*docs_out, c.remove_row]
    ).then(h.refresh_status, [c.project], status_out, api_visibility="private")
    tree_out = [c.node_md, c.node_children, c.tree_path]
    _on(c.tree_start.input, h.open_tree, [c.project, c.tree_start], tree_out)
    _on(c.node_children.input, h.open_child, [c.project, c.tree_path, c.node_children], tree_out)
    _on(c.tree_up.click, h.tree_up, [c.project, c.tree_path], tree_out)

    # notes and export
    _on(c.notes_tab.select, h.load_notes, [c.project, c.note], notes_out)
    _on(c.note_chips.click, h.open_note_citation, [c.project, c.note], [*viewer_out, c.tabs])
    _on(c.note.input, h.select_note, [c.project, c.note], [c.note_title, c.note_text, c.note_chips])
    _on(
        c.save_note_btn.click,
        h.save_note,
        [c.project, c.note, c.note_title, c.note_text],
        notes_out,
    )
    _on(c.new_note_btn.click, h.new_note, [c.project], notes_out)
    _on(c.delete_note_btn.click, h.delete_note, [c.project, c.note], notes_out)
    _on(
        c.export_btn.click,
        h.export_report,
        [c.project, c.export_notes, c.export_answers, c.export_format],
        [c.export_file, c.export_msg],
    )

    # settings
    settings_in = [
        c.project,
        c.backend,
        c.model_path,
        c.base_url,
        c.api_model,
        c.budget,
        c.threads,
        c.n_ctx,
    ]
    _on(c.save_settings_btn.click, h.save_settings, settings_in, settings_out)
    _on(c.reset_settings_btn.click, h.reset_settings, [c.project], settings_out)


def _api(h: Handlers) -> None:
    """The endpoints `gradio_client` may call; every other event is private."""
    gr.api(h.api_create_project, api_name="create_project")
    gr.api(h.api_add_files, api_name="add_files", concurrency_id=INGEST_GROUP, concurrency_limit=1)
    gr.api(h.api_ask, api_name="ask", concurrency_id=MODEL_GROUP, concurrency_limit=1)
    gr.api(h.api_open_citation, api_name="open_citation")
