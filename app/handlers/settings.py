"""Settings handlers: a project's model settings (backend, model file, server, budget,
threads, context window), validated and saved per project."""

from pathlib import Path

from app.handlers.base import HandlerBase, Outputs, skip
from app.security import remote_host
from app.views import sentence
from engine import TomesError

__all__ = ["SettingsHandlers"]


class SettingsHandlers(HandlerBase):
    _SETTING_KEYS = (
        "model.backend",
        "model.path",
        "model.base_url",
        "model.api_model",
        "retrieval.budget",
        "model.threads",
        "model.n_ctx",
    )

    def load_settings(self, project: str | None) -> Outputs:
        """Outputs: backend, model file, server URL, server model, budget, threads, context
        window, message."""
        if not project:
            return (*skip(7), "")
        values = self.ws.settings_for(self._project(project)).to_dict()
        return (*(values[k] for k in self._SETTING_KEYS), "")

    def save_settings(
        self,
        project: str | None,
        backend: str | None,
        path: str | None,
        base_url: str | None,
        api_model: str | None,
        budget: float | None,
        threads: float | None,
        n_ctx: float | None,
        send_elsewhere: bool | None = False,
    ) -> Outputs:
        """Validate and save the project's model settings. Outputs: those of `load_settings`.

        A server URL on another machine sends document text there: it is saved only with
        the explicit confirmation checkbox ticked (checked here, not only in the page; the
        CLI and TOMES_MODEL_BASE_URL need no such step)."""
        proj = self._project(project)
        raw = (backend, path, base_url, api_model, budget, threads, n_ctx)
        values = {
            key: (value.strip() or None) if isinstance(value, str) else value
            for key, value in zip(self._SETTING_KEYS, raw, strict=True)
        }
        remote = remote_host(str(values["model.base_url"] or ""))
        current = self.ws.settings_for(proj).model.base_url
        if remote and remote != remote_host(current) and not send_elsewhere:
            return (
                *skip(7),
                f"⚠ Not saved: the server URL is on another machine ({remote}), so the text "
                "of your documents and questions would be sent there. Tick the box below the "
                "URL to confirm, then save again.",
            )
        try:
            self.ws.save_project_settings(proj, values)
        except TomesError as exc:
            return (*skip(7), f"⚠ Not saved: {sentence(str(exc))}")
        message = "✓ Saved. The next answer uses these settings."
        model_path = values["model.path"]
        if model_path and not Path(str(model_path)).expanduser().is_file():
            message += f" Note: there is no file at {model_path} yet."
        return (*self.load_settings(project)[:7], message)

    def reset_settings(self, project: str | None) -> Outputs:
        proj = self._project(project)
        self.ws.save_project_settings(proj, dict.fromkeys(self._SETTING_KEYS))
        return (*self.load_settings(project)[:7], "✓ Back to the default settings.")
