"""The one protocol every model backend implements, and the token stream it returns."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["Backend", "ChatMessage", "GenerationParams", "Role", "TokenStream"]

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.1
    seed: int = 0
    stop: tuple[str, ...] = ()
    # Keep the KV state of this prompt for later prompts that share its prefix (answers: yes;
    # one-off summary prompts: no, so they do not evict the answers' states).
    cache_state: bool = True
    # A GBNF grammar the reply must follow (llama.cpp); backends that cannot constrain
    # decoding ignore it, and callers check the reply either way.
    grammar: str | None = None


class TokenStream:
    """An iterator of generated text pieces. After it is exhausted (or closed), `prompt_tokens`
    and `completion_tokens` hold the usage. `close()` stops generation early and releases
    whatever the backend holds (e.g. the model lock)."""

    def __init__(
        self,
        pieces: Iterator[str],
        *,
        prompt_tokens: int = 0,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._pieces = pieces
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self._on_close = on_close
        self._closed = False

    @classmethod
    def reporting(
        cls,
        pieces: Callable[[TokenStream], Iterator[str]],
        *,
        prompt_tokens: int = 0,
        on_close: Callable[[], None] | None = None,
    ) -> TokenStream:
        """A stream whose pieces come from `pieces(stream)`: the generator is handed the
        stream itself, so it can correct `prompt_tokens` once it learns the real usage (a
        server reports it at the end; a map over several prompts adds them up)."""
        stream = cls(iter(()), prompt_tokens=prompt_tokens, on_close=on_close)
        stream._pieces = pieces(stream)
        return stream

    def __iter__(self) -> TokenStream:
        return self

    def __next__(self) -> str:
        if self._closed:
            raise StopIteration
        try:
            piece = next(self._pieces)
        except BaseException:
            self.close()
            raise
        self.completion_tokens += 1
        return piece

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._pieces, "close", None)
        try:
            if close is not None:
                close()
        finally:
            if self._on_close is not None:
                self._on_close()

    def __del__(self) -> None:  # a dropped stream must not keep the model locked
        with contextlib.suppress(Exception):
            self.close()


@runtime_checkable
class Backend(Protocol):
    """A loaded model that can count tokens with its own tokenizer and stream a chat reply.

    Implementations are not thread-safe; `engine.llm.models.ModelManager` serializes access.
    """

    name: str

    @property
    def model_id(self) -> str:
        """A stable id for the model (file name + size, or server model name)."""
        ...

    @property
    def context_window(self) -> int:
        """Tokens the model can attend to (prompt + answer)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by the model's own tokenizer."""
        ...

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> TokenStream:
        """Start generating a reply; iterate the stream for text pieces."""
        ...

    def close(self) -> None:
        """Free the model now (deterministic; safe to call twice)."""
        ...


@dataclass
class Completion:
    """A whole (non-streamed) reply, for summary building."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def complete(
    backend: Backend, messages: Sequence[ChatMessage], params: GenerationParams
) -> Completion:
    """Run a stream to the end and collect it."""
    stream = backend.stream(messages, params)
    try:
        text = "".join(stream)
    finally:
        stream.close()
    return Completion(text, stream.prompt_tokens, stream.completion_tokens)
