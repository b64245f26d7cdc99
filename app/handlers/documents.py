"""Document handlers: adding sources (uploads or a folder, streaming each file's status), the
documents table, removing a document, reading the summary tree, and the project's status
line (which follows background indexing)."""

from collections.abc import Iterator, Sequence
from pathlib import Path

import gradio as gr

from app.handlers.base import HandlerBase, Outputs, Update, skip, user_message
from app.views import (
    documents_rows,
    event_detail,
    file_table_html,
    node_label,
    node_markdown,
    progress_line,
    summary_line,
)
from engine import Project, TomesError

__all__ = ["DocumentHandlers"]

_REMOVE = "removing the document"


class DocumentHandlers(HandlerBase):
    # ------------------------------------------------------------------ adding sources
    def add_sources(
        self, project: str | None, files: Sequence[str] | None, folder: str | None
    ) -> Iterator[Outputs]:
        """Add uploads and/or a local folder, streaming each file's status. Errors are
        reported in place (in the progress line), not only as a toast.
        Outputs: file table, progress line, upload box, folder box."""
        created: list[Path] = []
        failed: set[str] = set()
        try:
            proj = self._project(project)
            paths, rows = self._sources(proj, files, folder, created=created)
        except Exception as exc:
            self._drop_failed(created, {p.name for p in created})
            gr.Warning(user_message(exc))
            yield skip(4)
            return
        counts: dict[str, int] = {}
        for _, status, _ in rows.values():
            if status == "skipped":  # dotfiles, refused before the ingest
                counts["skipped"] = counts.get("skipped", 0) + 1
        yield file_table_html(list(rows.values())), "Starting…", gr.skip(), gr.skip()
        if not paths:
            yield file_table_html(list(rows.values())), summary_line(counts), None, ""
            return
        events = self.ws.ingest(proj, paths)
        try:
            for event in events:
                rows.pop("\0folder", None)  # the "looking for files" row gives way to files
                rows[event.name] = (event.name, event.status, event_detail(event))
                if event.status in ("failed", "skipped"):
                    failed.add(event.name)
                if event.status != "reading":
                    counts[event.status] = counts.get(event.status, 0) + 1
                line = progress_line(event)
                yield file_table_html(list(rows.values())), line, gr.skip(), gr.skip()
        except Exception as exc:
            message = user_message(exc)
            gr.Warning(message)
            yield file_table_html(list(rows.values())), f"⚠ {message}", gr.skip(), gr.skip()
            return
        finally:
            events.close()  # after a Stop too: the engine then indexes what was added
            self._drop_failed(created, failed)
        yield file_table_html(list(rows.values())), summary_line(counts), None, ""

    def _sources(
        self,
        proj: Project,
        files: Sequence[str] | None,
        folder: str | None,
        *,
        created: list[Path] | None = None,
    ) -> tuple[list[Path], dict[str, tuple[str, str, str]]]:
        paths: list[Path] = []
        rows: dict[str, tuple[str, str, str]] = {}
        for f in files or []:
            try:
                kept = self._keep_file(proj, Path(f), created=created)
            except TomesError as exc:  # a dotfile: skipped alone, the batch goes on
                name = Path(f).name
                rows[name] = (name, "skipped", str(exc).split(": ", 2)[-1])
                continue
            paths.append(kept)
            rows[kept.name] = (kept.name, "queued", "")
        if folder and folder.strip():
            where = Path(folder.strip()).expanduser()
            if not where.is_absolute():
                raise TomesError(
                    f"type the folder's full path (e.g. /home/me/cases), not {folder.strip()!r}"
                )
            # Only under the allowed roots (symlinks resolved first): the page must not be a
            # way to read the server's /etc or ~/.ssh.
            paths.append(self.roots.check(where))
            rows["\0folder"] = (str(where), "scanning", "")
        if not paths and not rows:
            raise TomesError("choose files to upload, or type the path of a folder, first")
        return paths, rows

    # ------------------------------------------------------------------ documents and tree
    def load_documents(self, project: str | None) -> Outputs:
        """Outputs: documents table, remove dropdown, tree start dropdown, node text, node
        children, tree path."""
        if not project:
            empty = gr.update(choices=[], value=None)
            return [], empty, empty, "", empty, []
        proj = self._project(project)
        docs = self.ws.documents(proj)
        starts = self._tree_starts(proj)
        if docs and not starts:
            status = self.ws.index_status(proj).tree
            text = (
                f"The summary tree is being built ({status.done} of {status.total} parts). It "
                "builds in the background; you can ask questions meanwhile."
                if status.total
                else "The summary tree has not been built yet."
            )
        elif docs:
            text = "Choose a document to read its summary, then open its parts."
        else:
            text = "Add documents to see their summaries here."
        return (
            documents_rows(docs, self.ws.ocr_summaries(proj)),
            gr.update(choices=[(d.name, d.id) for d in docs], value=None),
            gr.update(choices=starts, value=None),
            text,
            gr.update(choices=[], value=None, visible=False),
            [],
        )

    def _tree_starts(self, project: Project) -> list[tuple[str, int]]:
        """Where the summary tree can be read from: the whole corpus, then each document."""
        return [(label, node.id) for label, node in self.ws.tree_roots(project)]

    def confirm_remove_document(
        self, project: str | None, doc_id: str | None
    ) -> tuple[Update, object, str]:
        """Outputs: the confirmation row, its question, the nonce for the second click."""
        if not doc_id:
            raise TomesError("choose the document to remove first")
        name = self.ws.document(self._project(project), doc_id).name
        nonce = self.confirmations.issue(_REMOVE, f"{project}/{doc_id}")
        return (
            gr.update(visible=True),
            (
                f"Remove **{name}** from this project? Its passages, summaries and embeddings go; "
                "answers and notes that cite it keep their text. The file itself is not touched."
            ),
            nonce,
        )

    def remove_document(
        self, project: str | None, doc_id: str | None, nonce: str | None = None
    ) -> Outputs:
        """Outputs: those of `load_documents`, then the confirmation row (hidden)."""
        proj = self._project(project)
        if not doc_id:
            raise TomesError("choose the document to remove first")
        self.confirmations.check(_REMOVE, f"{project}/{doc_id}", nonce)
        doc = self.ws.remove_document(proj, doc_id)
        kept = proj.folder / "files" / doc.name
        if doc.path and Path(doc.path) == kept:
            kept.unlink(missing_ok=True)
        gr.Info(f"Removed {doc.name}.", duration=6)
        return (*self.load_documents(project), gr.update(visible=False))

    def _node_view(self, project: str | None, path: list[int]) -> Outputs:
        """Outputs: node text, children radio, tree path."""
        if not path:
            return (
                "Choose a document to read its summary.",
                gr.update(choices=[], visible=False),
                [],
            )
        node, document, children = self.ws.tree_node(self._project(project), int(path[-1]))
        choices = [(node_label(c, i), c.id) for i, c in enumerate(children, start=1)]
        text = node_markdown(node, document)
        return text, gr.update(choices=choices, value=None, visible=bool(choices)), list(path)

    def open_tree(self, project: str | None, node_id: int | None) -> Outputs:
        return self._node_view(project, [int(node_id)] if node_id is not None else [])

    def open_child(self, project: str | None, path: list[int], node_id: int | None) -> Outputs:
        if node_id is None:
            return skip(3)
        return self._node_view(project, [*(path or []), int(node_id)])

    def tree_up(self, project: str | None, path: list[int]) -> Outputs:
        return self._node_view(project, list(path or [])[:-1] or list(path or [])[:1])

    # ------------------------------------------------------------------ status line
    def status_line(self, project: str | None) -> str:
        """The project's one-line status: background indexing, or what the project holds."""
        if not project:
            return ""
        try:
            proj = self._project(project)
            job = self.ws.job(proj)
            if job.running or job.error:
                return f"↻ {job.describe()}" if job.running else f"⚠ {job.describe()}"
            stats = self.ws.stats(proj)
            if not stats["documents"]:
                return "No documents yet: add some under **Documents**."
            tree = self.ws.index_status(proj).tree
            if tree.total and not tree.complete:
                tree_text = f"summary tree {tree.done} of {tree.total} parts"
            else:
                tree_text = "summary tree ready" if tree.total else "summary tree not built"
            docs, chunks = stats["documents"], stats["chunks"]
            line = (
                f"{docs} document{'s' if docs != 1 else ''} · "
                f"{chunks:,} passage{'s' if chunks != 1 else ''} · {tree_text}"
            )
            if problem := self.ws.embedder_problem:
                line += f" · ⚠ {problem}"
            return line
        except Exception as exc:
            return f"⚠ {user_message(exc)}"

    def refresh_status(self, project: str | None) -> tuple[str, None]:
        """Outputs: status line, the poll memory (reset)."""
        return self.status_line(project), None

    def poll_status(
        self, project: str | None, seen: list[object] | None
    ) -> tuple[object, list[object] | None, Update]:
        """Timer tick. Outputs: status line, poll memory, summary-tree dropdown (refreshed
        when indexing ends). Cheap: reads the in-memory job state and only looks at the
        database when that state changed."""
        if not project:
            return gr.skip(), seen, gr.skip()
        try:
            job = self.ws.job(self._project(project))
            key: list[object] = [
                job.running,
                job.phase,
                job.done,
                job.total,
                job.error,
                job.finished_at,
            ]
            if key == seen:
                return gr.skip(), seen, gr.skip()
            if job.running:
                return f"↻ {job.describe()}", key, gr.skip()
            starts = self._tree_starts(self._project(project))
            return self.status_line(project), key, gr.update(choices=starts)
        except Exception:
            return gr.skip(), seen, gr.skip()
