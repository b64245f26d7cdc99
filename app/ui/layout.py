"""The app's layout: every component, placed once and held in typed per-tab dataclasses (no
logic, no events; `app.ui.wiring` connects them to the handlers)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from app.handlers import SAMPLE_QUESTIONS
from app.views import DOC_HEADERS, chips_html, file_table_html

__all__ = [
    "AskTab",
    "Components",
    "DocsTab",
    "GridTab",
    "Header",
    "Memory",
    "NotesTab",
    "SettingsTab",
    "Viewer",
    "Welcome",
    "layout",
]

# A click on a chip sends the chip's index to Python (gr.HTML's `trigger`); the listener is
# on the wrapper, so chips rendered later are covered too.
_CHIPS_JS = """
element.addEventListener('click', (event) => {
  const chip = event.target.closest('[data-cite]');
  if (chip) trigger('click', {cite: Number(chip.dataset.cite)});
});
"""

# A click on a grid cell sends its place on the page ("row,col") to Python.
_GRID_JS = """
element.addEventListener('click', (event) => {
  const cell = event.target.closest('[data-cell]');
  if (cell) {
    element.querySelectorAll('td.picked').forEach((td) => td.classList.remove('picked'));
    cell.classList.add('picked');
    trigger('click', {cell: cell.dataset.cell});
  }
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


@dataclass(frozen=True, slots=True)
class Header:
    """The header: project picker and tools, status line, and the forms they open."""

    project: gr.Dropdown
    new_project_btn: gr.Button
    tools: gr.Column
    rename_project_btn: gr.Button
    delete_project_btn: gr.Button
    status: gr.Markdown
    new_row: gr.Row
    new_name: gr.Textbox
    new_create: gr.Button
    new_cancel: gr.Button
    rename_row: gr.Row
    rename_name: gr.Textbox
    rename_save: gr.Button
    rename_cancel: gr.Button
    delete_row: gr.Row
    delete_md: gr.Markdown
    delete_yes: gr.Button
    delete_no: gr.Button
    delete_nonce: gr.State  # issued by the question, required by the second click


@dataclass(frozen=True, slots=True)
class Welcome:
    """The first-run panel: the sample project, or a new project's name."""

    panel: gr.Column
    sample_btn: gr.Button
    name: gr.Textbox
    create: gr.Button


@dataclass(frozen=True, slots=True)
class Memory:
    """Per-tab values that travel with events, and the status poll timer."""

    msg_ids: gr.State
    answer_id: gr.State
    viewer_state: gr.State
    tree_path: gr.State
    status_seen: gr.State
    timer: gr.Timer
    grid_state: gr.State
    cell_ref: gr.State
    grid_viewer_state: gr.State


@dataclass(frozen=True, slots=True)
class AskTab:
    """The Ask tab's chat side: sessions, the chat, source chips and the question."""

    session: gr.Dropdown
    new_chat: gr.Button
    rename_chat: gr.Button
    delete_chat: gr.Button
    rename_chat_row: gr.Row
    rename_chat_name: gr.Textbox
    rename_chat_save: gr.Button
    rename_chat_cancel: gr.Button
    delete_chat_row: gr.Row
    delete_chat_md: gr.Markdown
    delete_chat_yes: gr.Button
    delete_chat_no: gr.Button
    delete_chat_nonce: gr.State
    sources: gr.Dropdown  # the documents this chat asks about (none chosen: all)
    chatbot: gr.Chatbot
    status: gr.Markdown  # what is being read, and for how long
    chips: gr.HTML
    pin_btn: gr.Button
    question: gr.Textbox
    ask_btn: gr.Button
    stop_btn: gr.Button


@dataclass(frozen=True, slots=True)
class Viewer:
    """The source viewer beside the chat."""

    head: gr.HTML
    prev_page: gr.Button
    next_page: gr.Button
    text: gr.HTML
    image: gr.Image


@dataclass(frozen=True, slots=True)
class DocsTab:
    """The Documents tab: adding sources, the documents table, the summary tree."""

    tab: gr.Tab
    files: gr.File
    folder: gr.Textbox
    add_btn: gr.Button
    stop_add: gr.Button
    ingest_line: gr.Markdown
    file_table: gr.HTML
    documents: gr.Dataframe
    remove_doc: gr.Dropdown
    remove_btn: gr.Button
    remove_row: gr.Row
    remove_md: gr.Markdown
    remove_yes: gr.Button
    remove_nonce: gr.State
    remove_no: gr.Button
    tree_start: gr.Dropdown
    tree_up: gr.Button
    node_md: gr.Markdown
    node_children: gr.Radio


@dataclass(frozen=True, slots=True)
class GridTab:
    """The Grid tab: a grid's definition (documents, questions, presets), running it, the
    paged table, the selected cell with the reviewer's marks, its source, and export."""

    tab: gr.Tab
    grid: gr.Dropdown
    new_grid_btn: gr.Button
    delete_grid_btn: gr.Button
    name: gr.Textbox
    documents: gr.CheckboxGroup
    all_documents: gr.Checkbox
    questions: gr.Textbox
    preset: gr.Dropdown
    add_preset_btn: gr.Button
    preset_name: gr.Textbox
    save_preset_btn: gr.Button
    save_grid_btn: gr.Button
    concurrency: gr.Number
    run_btn: gr.Button
    cancel_btn: gr.Button
    progress: gr.Markdown
    table: gr.HTML
    prev_rows: gr.Button
    page_label: gr.Markdown
    next_rows: gr.Button
    cell_md: gr.Markdown
    reviewed: gr.Checkbox
    flagged: gr.Checkbox
    edited: gr.Textbox
    comment: gr.Textbox
    save_review_btn: gr.Button
    export_format: gr.Radio
    export_btn: gr.Button
    export_msg: gr.Markdown
    export_file: gr.File


@dataclass(frozen=True, slots=True)
class NotesTab:
    """The Notes & export tab."""

    tab: gr.Tab
    note: gr.Dropdown
    new_note_btn: gr.Button
    note_title: gr.Textbox
    note_text: gr.Textbox
    note_chips: gr.HTML
    save_note_btn: gr.Button
    delete_note_btn: gr.Button
    delete_note_row: gr.Row
    delete_note_md: gr.Markdown
    delete_note_yes: gr.Button
    delete_note_no: gr.Button
    delete_note_nonce: gr.State
    export_notes: gr.CheckboxGroup
    export_answers: gr.CheckboxGroup
    export_format: gr.Radio
    export_btn: gr.Button
    export_msg: gr.Markdown
    export_file: gr.File


@dataclass(frozen=True, slots=True)
class SettingsTab:
    """The Settings tab: the project's model settings."""

    backend: gr.Dropdown
    model_path: gr.Textbox
    base_url: gr.Textbox
    send_elsewhere: gr.Checkbox  # the visible, explicit "yes, send my text there"
    api_model: gr.Textbox
    budget: gr.Number
    n_ctx: gr.Number
    threads: gr.Number
    save_settings_btn: gr.Button
    reset_settings_btn: gr.Button
    settings_msg: gr.Markdown


@dataclass(frozen=True, slots=True)
class Components:
    """Every component of the app, by where it sits."""

    memory: Memory
    header: Header
    welcome: Welcome
    main: gr.Column
    tabs: gr.Tabs
    ask: AskTab
    viewer: Viewer
    docs: DocsTab
    grid: GridTab
    grid_viewer: Viewer
    notes: NotesTab
    settings: SettingsTab


def layout(*, has_sample: bool) -> Components:
    """Place every component (inside an open `gr.Blocks`); `has_sample` shows the sample
    project's button on the welcome panel."""
    memory = Memory(
        msg_ids=gr.State([]),
        answer_id=gr.State(None),
        viewer_state=gr.State(None),
        tree_path=gr.State([]),
        status_seen=gr.State(None),
        timer=gr.Timer(2.0),
        grid_state=gr.State({"grid_id": None, "offset": 0, "seen": None}),
        cell_ref=gr.State(None),
        grid_viewer_state=gr.State(None),
    )
    header = _header()
    welcome = _welcome(has_sample=has_sample)
    with gr.Column(visible=False, elem_id="main") as main, gr.Tabs(elem_id="tabs") as tabs:
        with gr.Tab("Ask", id="ask", elem_id="tab-ask"):
            ask, viewer = _ask_tab()
        with gr.Tab("Documents", id="docs", elem_id="tab-docs") as docs_tab:
            docs = _docs_tab(docs_tab)
        with gr.Tab("Grid", id="grid", elem_id="tab-grid") as grid_tab:
            grid, grid_viewer = _grid_tab(grid_tab)
        with gr.Tab("Notes & export", id="notes", elem_id="tab-notes") as notes_tab:
            notes = _notes_tab(notes_tab)
        with gr.Tab("Settings", id="settings", elem_id="tab-settings"):
            settings = _settings_tab()
    return Components(
        memory, header, welcome, main, tabs, ask, viewer, docs, grid, grid_viewer, notes, settings
    )


def _welcome(*, has_sample: bool) -> Welcome:
    with gr.Column(visible=False, elem_id="welcome", elem_classes="tomes-welcome") as panel:
        gr.Markdown(_WELCOME)
        with gr.Row(equal_height=False, elem_classes="tomes-inline"):
            sample_btn = gr.Button(
                "Try it with a sample agreement",
                variant="primary",
                visible=has_sample,
                elem_id="sample-btn",
                scale=0,
                min_width=320,
            )
            name = gr.Textbox(
                label="Or name a new project",
                placeholder="e.g. Acme supply contracts",
                elem_id="welcome-name",
                scale=3,
            )
            create = gr.Button("Create project", elem_id="welcome-create", scale=0)
    return Welcome(panel=panel, sample_btn=sample_btn, name=name, create=create)


def _header() -> Header:
    with gr.Row(elem_id="tomes-header", equal_height=True):
        gr.HTML(
            '<div class="tomes-brand"><span class="mark">T</span><span class="words">'
            '<span class="name">Tomes</span><span class="tag">Private document analysis, '
            "on this computer</span></span></div>",
            js_on_load=None,
            scale=3,
            min_width=300,
        )
        project = gr.Dropdown(
            label="Project",
            show_label=False,
            container=False,
            choices=[],
            allow_custom_value=True,
            elem_id="project-select",
            scale=2,
            min_width=240,
        )
        new_project_btn = gr.Button(
            "New project", size="sm", elem_id="new-project-btn", scale=0, min_width=110
        )
        with (
            gr.Column(visible=False, scale=0, min_width=190, elem_id="project-tools") as tools,
            gr.Row(),
        ):
            rename_project_btn = gr.Button("Rename", size="sm", scale=0, min_width=80)
            delete_project_btn = gr.Button(
                "Delete", size="sm", variant="stop", scale=0, min_width=80
            )
    status = gr.Markdown("", elem_id="index-status")
    with gr.Row(visible=False, elem_classes="tomes-form tomes-inline") as new_row:
        new_name = gr.Textbox(
            label="New project name",
            placeholder="e.g. Acme supply contracts",
            elem_id="new-project-name",
            scale=3,
        )
        new_create = gr.Button("Create", variant="primary", elem_id="create-project-btn", scale=0)
        new_cancel = gr.Button("Cancel", scale=0)
    with gr.Row(visible=False, elem_classes="tomes-form tomes-inline") as rename_row:
        rename_name = gr.Textbox(label="Rename the project to", scale=3)
        rename_save = gr.Button("Rename", variant="primary", scale=0)
        rename_cancel = gr.Button("Cancel", scale=0)
    with gr.Row(visible=False, elem_classes="tomes-form tomes-danger tomes-inline") as delete_row:
        delete_md = gr.Markdown()
        delete_yes = gr.Button("Delete project", variant="stop", scale=0)
        delete_no = gr.Button("Cancel", scale=0)
    delete_nonce = gr.State(None)
    return Header(
        project=project,
        new_project_btn=new_project_btn,
        tools=tools,
        rename_project_btn=rename_project_btn,
        delete_project_btn=delete_project_btn,
        status=status,
        new_row=new_row,
        new_name=new_name,
        new_create=new_create,
        new_cancel=new_cancel,
        rename_row=rename_row,
        rename_name=rename_name,
        rename_save=rename_save,
        rename_cancel=rename_cancel,
        delete_row=delete_row,
        delete_md=delete_md,
        delete_yes=delete_yes,
        delete_no=delete_no,
        delete_nonce=delete_nonce,
    )


def _ask_tab() -> tuple[AskTab, Viewer]:
    with gr.Row(equal_height=False):
        with gr.Column(scale=6, min_width=420):
            with gr.Row(equal_height=False, elem_classes="tomes-inline"):
                session = gr.Dropdown(
                    label="Chat",
                    show_label=False,
                    container=False,
                    choices=[],
                    allow_custom_value=True,
                    elem_id="session-select",
                    scale=3,
                )
                new_chat = gr.Button(
                    "New chat", size="sm", scale=0, min_width=90, elem_id="new-chat-btn"
                )
                rename_chat = gr.Button("Rename", size="sm", scale=0, min_width=80)
                delete_chat = gr.Button("Delete", size="sm", variant="stop", scale=0, min_width=80)
            with gr.Row(visible=False, elem_classes="tomes-form tomes-inline") as rename_chat_row:
                rename_chat_name = gr.Textbox(label="Rename this chat to", scale=3)
                rename_chat_save = gr.Button("Rename", variant="primary", scale=0)
                rename_chat_cancel = gr.Button("Cancel", scale=0)
            with gr.Row(
                visible=False, elem_classes="tomes-form tomes-danger tomes-inline"
            ) as delete_chat_row:
                delete_chat_md = gr.Markdown()
                delete_chat_yes = gr.Button("Delete chat", variant="stop", scale=0)
                delete_chat_no = gr.Button("Cancel", scale=0)
            delete_chat_nonce = gr.State(None)
            sources = gr.Dropdown(
                label="Documents this chat asks about (none chosen: all of them)",
                choices=[],
                value=[],
                multiselect=True,
                elem_id="chat-sources",
            )
            chatbot = gr.Chatbot(
                label="Answers",
                show_label=False,
                elem_id="chat",
                height=480,
                placeholder=_CHAT_PLACEHOLDER,
                feedback_options=None,
                buttons=["copy"],
                layout="panel",
            )
            status = gr.Markdown("", elem_id="answer-status")
            with gr.Row(equal_height=False, elem_classes="tomes-sources-row"):
                chips = gr.HTML(
                    chips_html([]),
                    js_on_load=_CHIPS_JS,
                    elem_id="chips",
                    scale=5,
                )
                pin_btn = gr.Button(
                    "Pin as note", size="sm", elem_id="pin-btn", scale=0, min_width=120
                )
            with gr.Row(equal_height=True):
                question = gr.Textbox(
                    show_label=False,
                    placeholder="Ask a question about this project's documents",
                    lines=2,
                    max_lines=6,
                    elem_id="question",
                    scale=5,
                )
                with gr.Column(scale=0, min_width=120):
                    ask_btn = gr.Button("Ask", variant="primary", elem_id="ask-btn")
                    stop_btn = gr.Button("Stop", size="sm", elem_id="stop-btn")
        with gr.Column(scale=5, min_width=380, elem_id="viewer", elem_classes="tomes-viewer"):
            gr.Markdown("#### Source viewer")
            viewer_head = gr.HTML("", js_on_load=None, elem_id="viewer-head")
            with gr.Row(equal_height=True):
                prev_page = gr.Button(
                    "◀ Previous page", size="sm", visible=False, elem_id="prev-page"
                )
                next_page = gr.Button("Next page ▶", size="sm", visible=False, elem_id="next-page")
            viewer_text = gr.HTML("", js_on_load=_SCROLL_TO_MARK_JS, elem_id="viewer-text")
            viewer_image = gr.Image(
                type="pil",
                format="png",
                interactive=False,
                show_label=False,
                visible=False,
                elem_id="viewer-image",
                buttons=["fullscreen"],
                height=640,
            )
    chat = AskTab(
        session=session,
        new_chat=new_chat,
        rename_chat=rename_chat,
        delete_chat=delete_chat,
        rename_chat_row=rename_chat_row,
        rename_chat_name=rename_chat_name,
        rename_chat_save=rename_chat_save,
        rename_chat_cancel=rename_chat_cancel,
        delete_chat_row=delete_chat_row,
        delete_chat_md=delete_chat_md,
        delete_chat_yes=delete_chat_yes,
        delete_chat_nonce=delete_chat_nonce,
        delete_chat_no=delete_chat_no,
        sources=sources,
        chatbot=chatbot,
        status=status,
        chips=chips,
        pin_btn=pin_btn,
        question=question,
        ask_btn=ask_btn,
        stop_btn=stop_btn,
    )
    viewer = Viewer(
        head=viewer_head,
        prev_page=prev_page,
        next_page=next_page,
        text=viewer_text,
        image=viewer_image,
    )
    return chat, viewer


def _docs_tab(tab: gr.Tab) -> DocsTab:
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=320):
            gr.Markdown("#### Add documents")
            files = gr.File(
                label="Upload PDF, Word, text or .zip files",
                file_count="multiple",
                type="filepath",
                elem_id="upload",
                height=150,
            )
            folder = gr.Textbox(
                label="…or add a folder on this computer",
                placeholder="/full/path/to/folder (respects .gitignore)",
                elem_id="folder",
            )
            with gr.Row():
                add_btn = gr.Button("Add to project", variant="primary", elem_id="add-btn")
                stop_add = gr.Button("Stop", scale=0, min_width=90)
        with gr.Column(scale=6, min_width=380):
            ingest_line = gr.Markdown("", elem_id="ingest-progress")
            file_table = gr.HTML(file_table_html([]), js_on_load=None, elem_id="file-status")
    gr.Markdown("#### Documents in this project")
    documents = gr.Dataframe(
        headers=DOC_HEADERS,
        value=[],
        interactive=False,
        wrap=True,
        elem_id="documents",
        max_height=360,
    )
    with gr.Row(equal_height=False, elem_classes="tomes-inline"):
        remove_doc = gr.Dropdown(label="Remove a document", choices=[], scale=3)
        remove_btn = gr.Button("Remove…", variant="stop", size="md", scale=0, min_width=120)
    with gr.Row(visible=False, elem_classes="tomes-form tomes-danger tomes-inline") as remove_row:
        remove_md = gr.Markdown()
        remove_yes = gr.Button("Remove document", variant="stop", scale=0)
        remove_no = gr.Button("Cancel", scale=0)
    remove_nonce = gr.State(None)
    gr.Markdown("#### Summary tree")
    with gr.Row(equal_height=False, elem_classes="tomes-inline"):
        tree_start = gr.Dropdown(label="Read the summary of", choices=[], scale=3)
        tree_up = gr.Button("Up one level", size="sm", scale=0)
    node_md = gr.Markdown("", elem_id="tree-node", elem_classes="tomes-node")
    node_children = gr.Radio(label="Its parts (click one to read it)", choices=[], visible=False)
    return DocsTab(
        tab=tab,
        files=files,
        folder=folder,
        add_btn=add_btn,
        stop_add=stop_add,
        ingest_line=ingest_line,
        file_table=file_table,
        documents=documents,
        remove_doc=remove_doc,
        remove_btn=remove_btn,
        remove_row=remove_row,
        remove_md=remove_md,
        remove_yes=remove_yes,
        remove_nonce=remove_nonce,
        remove_no=remove_no,
        tree_start=tree_start,
        tree_up=tree_up,
        node_md=node_md,
        node_children=node_children,
    )


def _viewer_panel(prefix: str) -> Viewer:
    """A source viewer (header, page buttons, text with the quote marked, page image)."""
    head = gr.HTML("", js_on_load=None, elem_id=f"{prefix}-head")
    with gr.Row(equal_height=True):
        prev_page = gr.Button("◀ Previous page", size="sm", visible=False, elem_id=f"{prefix}-prev")
        next_page = gr.Button("Next page ▶", size="sm", visible=False, elem_id=f"{prefix}-next")
    text = gr.HTML("", js_on_load=_SCROLL_TO_MARK_JS, elem_id=f"{prefix}-text")
    image = gr.Image(
        type="pil", format="png", interactive=False, show_label=False, visible=False,
        elem_id=f"{prefix}-image", buttons=["fullscreen"], height=560,
    )  # fmt: skip
    return Viewer(head=head, prev_page=prev_page, next_page=next_page, text=text, image=image)


def _grid_tab(tab: gr.Tab) -> tuple[GridTab, Viewer]:
    with gr.Row(equal_height=False, elem_classes="tomes-inline"):
        grid = gr.Dropdown(label="Review grid", choices=[], elem_id="grid-select", scale=3)
        new_grid_btn = gr.Button("New grid", size="sm", scale=0, min_width=100, elem_id="new-grid")
        delete_grid_btn = gr.Button("Delete", size="sm", variant="stop", scale=0, min_width=80)
    with gr.Accordion("Documents and questions", open=True, elem_id="grid-define"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                name = gr.Textbox(
                    label="Grid name", placeholder="e.g. Supplier contracts", elem_id="grid-name"
                )
                all_documents = gr.Checkbox(
                    label="All documents (also those added later)",
                    value=True,
                    elem_id="grid-all-docs",
                )
                documents = gr.CheckboxGroup(
                    label="…or these documents (rows)", choices=[], elem_id="grid-docs"
                )
            with gr.Column(scale=6, min_width=380):
                questions = gr.Textbox(
                    label="Questions (columns), one per line; “Label | question” names the column",
                    lines=6, max_lines=14, elem_id="grid-questions",
                    placeholder="Governing law | Which law governs this agreement?\n"
                    "Is there a non-compete clause?",
                )  # fmt: skip
                with gr.Row(equal_height=False, elem_classes="tomes-inline"):
                    preset = gr.Dropdown(label="Preset", choices=[], elem_id="grid-preset", scale=3)
                    add_preset_btn = gr.Button(
                        "Add its questions", size="sm", scale=0, elem_id="grid-add-preset"
                    )
                    preset_name = gr.Textbox(label="Save these questions as a preset", scale=3)
                    save_preset_btn = gr.Button("Save preset", size="sm", scale=0)
        save_grid_btn = gr.Button("Save grid", variant="primary", elem_id="grid-save", size="md")
    with gr.Row(equal_height=False, elem_classes="tomes-inline"):
        concurrency = gr.Number(
            label="Cells at once (OpenAI-compatible server)", value=1, precision=0,
            minimum=1, maximum=64, scale=1, min_width=160, elem_id="grid-concurrency",
        )  # fmt: skip
        run_btn = gr.Button(
            "Run / resume", variant="primary", scale=0, min_width=140, elem_id="grid-run"
        )
        cancel_btn = gr.Button("Cancel", scale=0, min_width=100, elem_id="grid-cancel")
        progress = gr.Markdown("", elem_id="grid-progress")
    table = gr.HTML("", js_on_load=_GRID_JS, elem_id="grid-table")
    with gr.Row(equal_height=True, elem_classes="tomes-inline"):
        prev_rows = gr.Button("◀ Previous documents", size="sm", scale=0, elem_id="grid-prev")
        page_label = gr.Markdown("", elem_id="grid-page")
        next_rows = gr.Button("Next documents ▶", size="sm", scale=0, elem_id="grid-next")
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=340):
            gr.Markdown("#### Selected cell")
            cell_md = gr.Markdown(
                "Click a cell to see its answer and open its source.", elem_id="grid-cell"
            )
            with gr.Row():
                reviewed = gr.Checkbox(label="Reviewed", elem_id="grid-reviewed")
                flagged = gr.Checkbox(label="Flag", elem_id="grid-flagged")
            edited = gr.Textbox(label="Your answer (empty: the model's)", elem_id="grid-edited")
            comment = gr.Textbox(label="Comment", lines=2, elem_id="grid-comment")
            save_review_btn = gr.Button("Save review", elem_id="grid-save-review")
            gr.Markdown("#### Export")
            export_format = gr.Radio(
                choices=[("Excel (.xlsx)", "xlsx"), ("CSV", "csv"), ("Word (.docx)", "docx"),
                         ("Markdown (.md)", "md")],
                value="xlsx", show_label=False, elem_id="grid-export-format",
            )  # fmt: skip
            export_btn = gr.Button("Export grid", elem_id="grid-export")
            export_msg = gr.Markdown("", elem_id="grid-export-msg")
            export_file = gr.File(
                label="Grid", visible=False, interactive=False, elem_id="grid-export-file"
            )
        with gr.Column(scale=6, min_width=380, elem_classes="tomes-viewer"):
            gr.Markdown("#### Source")
            viewer = _viewer_panel("grid-viewer")
    tab_ = GridTab(
        tab=tab, grid=grid, new_grid_btn=new_grid_btn, delete_grid_btn=delete_grid_btn,
        name=name, documents=documents, all_documents=all_documents, questions=questions,
        preset=preset, add_preset_btn=add_preset_btn, preset_name=preset_name,
        save_preset_btn=save_preset_btn, save_grid_btn=save_grid_btn, concurrency=concurrency,
        run_btn=run_btn, cancel_btn=cancel_btn, progress=progress, table=table,
        prev_rows=prev_rows, page_label=page_label, next_rows=next_rows, cell_md=cell_md,
        reviewed=reviewed, flagged=flagged, edited=edited, comment=comment,
        save_review_btn=save_review_btn, export_format=export_format, export_btn=export_btn,
        export_msg=export_msg, export_file=export_file,
    )  # fmt: skip
    return tab_, viewer


def _notes_tab(tab: gr.Tab) -> NotesTab:
    with gr.Row(equal_height=False):
        with gr.Column(scale=6):
            gr.Markdown("#### Notes")
            with gr.Row(equal_height=False, elem_classes="tomes-inline"):
                note = gr.Dropdown(label="Note", choices=[], elem_id="note-select", scale=3)
                new_note_btn = gr.Button("New note", size="sm", scale=0)
            note_title = gr.Textbox(label="Title", elem_id="note-title")
            note_text = gr.Textbox(label="Text", lines=8, max_lines=30, elem_id="note-text")
            note_chips = gr.HTML("", js_on_load=_CHIPS_JS, elem_id="note-sources")
            with gr.Row():
                save_note_btn = gr.Button("Save note", variant="primary", scale=0)
                delete_note_btn = gr.Button("Delete note", variant="stop", scale=0)
            with gr.Row(
                visible=False, elem_classes="tomes-form tomes-danger tomes-inline"
            ) as delete_note_row:
                delete_note_md = gr.Markdown()
                delete_note_yes = gr.Button("Delete note", variant="stop", scale=0)
                delete_note_no = gr.Button("Cancel", scale=0)
            delete_note_nonce = gr.State(None)
        with gr.Column(scale=4):
            gr.Markdown("#### Export a report")
            export_notes = gr.CheckboxGroup(
                label="Notes to include", choices=[], elem_id="export-notes"
            )
            export_answers = gr.CheckboxGroup(
                label="Answers to include", choices=[], elem_id="export-answers"
            )
            export_format = gr.Radio(
                label="Format",
                choices=[("Word (.docx)", "docx"), ("Markdown (.md)", "md")],
                value="docx",
                elem_id="export-format",
            )
            export_btn = gr.Button("Export report", variant="primary", elem_id="export-btn")
            export_msg = gr.Markdown("", elem_id="export-msg")
            export_file = gr.File(
                label="Report", visible=False, interactive=False, elem_id="export-file"
            )
    return NotesTab(
        tab=tab,
        note=note,
        new_note_btn=new_note_btn,
        note_title=note_title,
        note_text=note_text,
        note_chips=note_chips,
        save_note_btn=save_note_btn,
        delete_note_btn=delete_note_btn,
        delete_note_row=delete_note_row,
        delete_note_md=delete_note_md,
        delete_note_yes=delete_note_yes,
        delete_note_no=delete_note_no,
        delete_note_nonce=delete_note_nonce,
        export_notes=export_notes,
        export_answers=export_answers,
        export_format=export_format,
        export_btn=export_btn,
        export_msg=export_msg,
        export_file=export_file,
    )


def _settings_tab() -> SettingsTab:
    gr.Markdown(
        "#### Model settings for this project\n"
        "Leave the model file empty to use the model that comes with Tomes."
    )
    with gr.Row():
        backend = gr.Dropdown(
            label="Backend",
            choices=[
                ("llama.cpp (local .gguf file)", "llama.cpp"),
                ("Transformers / torch (local folder)", "torch"),
                ("OpenAI-compatible server (vLLM, llama.cpp server, Ollama)", "openai"),
                ("Fake (for demos and tests)", "fake"),
            ],
            elem_id="set-backend",
        )
        model_path = gr.Textbox(label="Model file (.gguf) or folder", elem_id="set-path")
    with gr.Row():
        base_url = gr.Textbox(
            label="Server URL (OpenAI-compatible backend)", placeholder="http://127.0.0.1:8000/v1"
        )
        api_model = gr.Textbox(label="Model name on the server")
    send_elsewhere = gr.Checkbox(
        label=(
            "I understand that with a server on another machine, the text of my documents "
            "and questions is sent to that machine"
        ),
        value=False,
        elem_id="set-send-elsewhere",
    )
    with gr.Row():
        budget = gr.Number(
            label="Context budget (tokens per answer)", precision=0, elem_id="set-budget"
        )
        n_ctx = gr.Number(label="Model context window (n_ctx)", precision=0, elem_id="set-n-ctx")
        threads = gr.Number(label="CPU threads (0 = automatic)", precision=0)
    with gr.Row():
        save_settings_btn = gr.Button(
            "Save settings", variant="primary", size="md", scale=0, elem_id="save-settings"
        )
        reset_settings_btn = gr.Button("Back to defaults", size="md", scale=0, min_width=160)
    settings_msg = gr.Markdown("", elem_id="settings-msg")
    return SettingsTab(
        backend=backend,
        model_path=model_path,
        base_url=base_url,
        send_elsewhere=send_elsewhere,
        api_model=api_model,
        budget=budget,
        n_ctx=n_ctx,
        threads=threads,
        save_settings_btn=save_settings_btn,
        reset_settings_btn=reset_settings_btn,
        settings_msg=settings_msg,
    )
