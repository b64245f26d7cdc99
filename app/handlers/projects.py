"""Project handlers: the page load, choosing, creating (also the sample project), renaming and
deleting projects, and the small show/hide helpers of the header's forms."""

import gradio as gr

from app.handlers.base import SAMPLE_PROJECT, SAMPLE_QUESTIONS, HandlerBase, Outputs, Update
from engine import TomesError

__all__ = ["ProjectHandlers"]

_DELETE = "deleting the project"


class ProjectHandlers(HandlerBase):
    def _choice(self, current: str | None, *, tab: str | None = None) -> Outputs:
        """Outputs: project dropdown, welcome panel, main panel, tabs, project tools."""
        names = self._names()
        if current not in names:
            current = None
        self.prefs.remember(current)
        return (
            gr.update(choices=names, value=current, visible=bool(names)),
            gr.update(visible=current is None),
            gr.update(visible=current is not None),
            gr.update(selected=tab) if tab else gr.skip(),
            gr.update(visible=current is not None),
        )

    def start(self) -> Outputs:
        """On page load: the last opened project (`tomes serve --project` sets it), else the
        first; none gives the welcome panel."""
        names = self._names()
        last = self.prefs.last_project()
        return self._choice(last if last in names else names[0] if names else None)

    def switch_project(self, name: str | None) -> Outputs:
        self._project(name)  # a stale dropdown (deleted in another tab) says so
        return self._choice(name)

    def create_project(self, name: str | None) -> Outputs:
        """Outputs: those of `_choice`, then the name box (cleared) and the form (hidden)."""
        project = self.ws.create_project(name or "")
        gr.Info(f"Project “{project.name}” created. Add documents to it here.", duration=6)
        return (*self._choice(project.name, tab="docs"), "", gr.update(visible=False))

    def create_sample_project(self) -> Outputs:
        """A project holding the sample agreement (created and read on first use)."""
        if not self.has_sample:
            raise TomesError("the sample document is not installed with this copy of Tomes")
        project = self.ws.project(SAMPLE_PROJECT, create=True)
        for event in self.ws.ingest(project, [self._keep_file(project, self.sample)]):
            if event.failed:
                raise TomesError(f"the sample could not be read: {event.reason}")
        gr.Info("The sample agreement is ready. Try: " + " · ".join(SAMPLE_QUESTIONS), duration=6)
        return self._choice(project.name, tab="ask")

    def show_form(self, value: str | None = "") -> tuple[Update, object]:
        """Outputs: a form row (shown) and its text box (filled with `value`)."""
        return gr.update(visible=True), value or ""

    def hide(self) -> Update:
        return gr.update(visible=False)

    def rename_project(self, current: str | None, new_name: str | None) -> Outputs:
        """Outputs: those of `_choice`, then the rename form (hidden)."""
        project = self._project(current)
        renamed = self.ws.rename_project(project, new_name or "")
        return (*self._choice(renamed.name), gr.update(visible=False))

    def confirm_delete_project(self, current: str | None) -> tuple[Update, object, str]:
        """Outputs: the confirmation row (shown), its question, and the nonce the second
        click must bring back."""
        project = self._project(current)
        stats = self.ws.stats(project)
        question = (
            f"Delete the project **{project.name}** ({stats['documents']} documents) with its "
            "chats and notes? This cannot be undone. Your original files are not touched."
        )
        return gr.update(visible=True), question, self.confirmations.issue(_DELETE, project.name)

    def delete_project(self, current: str | None, nonce: str | None = None) -> Outputs:
        project = self._project(current)
        self.confirmations.check(_DELETE, project.name, nonce)
        self.ws.delete_project(project)
        gr.Info(f"Project “{project.name}” deleted.", duration=6)
        names = self._names()
        return (*self._choice(names[0] if names else None), gr.update(visible=False))
