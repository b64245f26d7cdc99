"""Model backends: one protocol (`Backend`), a small registry in code. Heavy libraries are
imported only when a backend is created."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.errors import SettingsError
from engine.llm.backends.base import Backend, ChatMessage, GenerationParams, TokenStream, complete
from engine.settings import Settings

__all__ = [
    "BACKENDS",
    "Backend",
    "ChatMessage",
    "GenerationParams",
    "TokenStream",
    "complete",
    "create_backend",
    "model_identity",
    "resolve_model_path",
]


def resolve_model_path(settings: Settings) -> Path:
    """The model file to load: the configured path, or the embedded default (assembled and
    verified on first use)."""
    from engine.llm.modelfile import assemble_embedded_model, check_gguf

    if settings.model.path:
        path = Path(settings.model.path).expanduser()
        if settings.model.backend == "torch" and path.is_dir():
            return path
        return check_gguf(path)
    return assemble_embedded_model(settings.models_dir)


def model_identity(settings: Settings) -> str:
    """A stable id for the model the settings select, without loading it: recorded in
    `made_by` on every summary node, so a different model means a rebuild, not reuse."""
    m = settings.model
    if m.backend == "openai":
        return f"openai:{m.api_model or 'default'}@{m.base_url}"
    if m.backend == "fake":
        return "fake:quote-best-match"
    if not m.path:
        # The embedded model's identity is known without assembling its 490 MB file.
        from engine.llm.modelfile import EMBEDDED_FILE, EMBEDDED_SIZE

        return f"{m.backend}:{EMBEDDED_FILE}:{EMBEDDED_SIZE}"
    path = resolve_model_path(settings)
    size = path.stat().st_size if path.is_file() else 0
    return f"{m.backend}:{path.name}:{size}"


def _llama(settings: Settings) -> Backend:
    from engine.llm.backends.llama import LlamaCppBackend

    m = settings.model
    return LlamaCppBackend(
        resolve_model_path(settings),
        n_ctx=m.n_ctx,
        threads=m.threads,
        gpu_layers=m.gpu_layers,
        seed=m.seed,
    )


def _torch(settings: Settings) -> Backend:
    from engine.llm.backends.torch_backend import TorchBackend

    return TorchBackend(
        resolve_model_path(settings), n_ctx=settings.model.n_ctx, threads=settings.model.threads
    )


def _openai(settings: Settings) -> Backend:
    from engine.llm.backends.openai import OpenAIBackend

    m = settings.model
    return OpenAIBackend(m.base_url, model=m.api_model, api_key=m.api_key, n_ctx=m.n_ctx)


def _fake(settings: Settings) -> Backend:
    import os

    from engine.llm.backends.fake import FakeBackend

    # TOMES_FAKE_DELAY_S slows the fake backend down so tests can kill a process mid-answer.
    return FakeBackend(
        n_ctx=settings.model.n_ctx, delay_s=float(os.environ.get("TOMES_FAKE_DELAY_S", "0"))
    )


BACKENDS: dict[str, Callable[[Settings], Backend]] = {
    "llama.cpp": _llama,
    "torch": _torch,
    "openai": _openai,
    "fake": _fake,
}


def create_backend(settings: Settings) -> Backend:
    """Load the backend named by `settings.model.backend`."""
    try:
        factory = BACKENDS[settings.model.backend]
    except KeyError:
        raise SettingsError(
            f"unknown backend {settings.model.backend!r}; choose one of {', '.join(BACKENDS)}"
        ) from None
    return factory(settings)
