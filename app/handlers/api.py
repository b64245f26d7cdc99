"""The endpoints `gradio_client` may call (wired with `gr.api` by `app.ui`): create a
project, add files, ask, open a citation. Errors reach the client as `gr.Error` with a
readable message (`api_errors`, applied by the wiring)."""

from pathlib import Path
from typing import TypedDict

from gradio import FileData

from app.handlers.viewer import ViewerHandlers
from engine import FileStatus, TomesError
from engine.errors import AnswerPending

__all__ = ["AddedFile", "ApiHandlers", "OpenedSource"]


class AddedFile(TypedDict):
    """How one uploaded file ended (`/add_files`)."""

    name: str
    status: FileStatus  # added, replaced, unchanged, skipped or failed (never reading)
    reason: str
    pages: int | None
    passages: int


class OpenedSource(TypedDict):
    """What the viewer shows for a citation (`/open_citation`)."""

    document: str
    title: str
    page: int | None
    n_pages: int | None
    text: str
    highlights: list[list[int]]
    marked: list[str]
    has_image: bool


class ApiHandlers(ViewerHandlers):
    def api_create_project(self, name: str) -> str:
        """Create a project (or open it if it exists); returns its name."""
        return self.ws.project(name, create=True).name

    def api_add_files(self, project: str, files: list[FileData]) -> list[AddedFile]:
        """Upload files into a project; returns one status per file (name, status, reason,
        pages, passages)."""
        from gradio.utils import get_upload_folder, is_in_or_equal

        proj = self.ws.project(project)
        paths = []
        out: list[AddedFile] = []
        created: list[Path] = []
        for f in files:
            path = f["path"] if isinstance(f, dict) else f.path
            if not is_in_or_equal(path, get_upload_folder()):
                raise TomesError("only files uploaded through this API can be added")
            try:
                paths.append(self._keep_file(proj, Path(path), created=created))
            except TomesError as exc:  # a dotfile: skipped alone, with its reason
                name = Path(path).name
                reason = str(exc).split(": ", 2)[-1]
                out.append(
                    AddedFile(
                        name=name,
                        status=FileStatus.SKIPPED,
                        reason=reason,
                        pages=None,
                        passages=0,
                    )
                )
        failed: set[str] = set()
        try:
            for e in self.ws.ingest(proj, paths) if paths else ():
                if e.status == FileStatus.READING:
                    continue
                if e.status in (FileStatus.FAILED, FileStatus.SKIPPED):
                    failed.add(e.name)
                out.append(
                    AddedFile(
                        name=e.name,
                        status=e.status,
                        reason=e.reason,
                        pages=e.n_pages,
                        passages=e.n_chunks,
                    )
                )
        finally:
            self._drop_failed(created, failed)
        return out

    def api_ask(
        self, project: str, question: str, session_id: int | None = None
    ) -> dict[str, object]:
        """Ask a question; returns the answer as in `tomes ask --json`, plus the chat session
        and message ids (pass session_id again to ask a follow-up)."""
        proj = self.ws.project(project)
        if session_id is None:
            with self.ws.chats(proj) as chats:
                session_id = chats.create_session().id
        stream = self.ws.ask(proj, question, session_id=int(session_id))
        try:
            answer = stream.result()
        finally:
            stream.close()
        notice = ""
        message_id: int | None
        try:
            _, message_id = self.ws.record(proj, int(session_id), answer)
        except AnswerPending as kept:  # the answer is returned; the chat gets it later
            message_id, notice = None, str(kept)
        result = {**answer.to_json(), "session_id": session_id, "message_id": message_id}
        if notice:
            result["notice"] = notice
        return result

    def api_open_citation(self, project: str, message_id: int, index: int) -> OpenedSource:
        """Open source `index` (from 0) of an answer; returns what the viewer shows."""
        cite = self._citation(project, message_id, index)
        view = self._view(project, self._viewer_state(cite))
        return OpenedSource(
            document=view.document,
            title=view.title,
            page=view.page,
            n_pages=view.n_pages,
            text=view.text,
            highlights=[list(h) for h in view.highlights],
            marked=[view.text[a:b] for a, b in view.highlights],
            has_image=view.image is not None,
        )
