"""llama.cpp in process, through llama-cpp-python (the default backend).

Follow-up questions over the same context start fast because `Llama.generate` reuses the
longest common token prefix already in the KV cache, and a `LlamaRAMCache` keeps the states of
recent answers so switching between chat sessions does not re-read their context.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from engine.errors import BackendUnavailable, GenerationFailed, ModelCorrupt
from engine.llm.backends.base import ChatMessage, GenerationParams, TokenStream

__all__ = ["LlamaCppBackend", "amx_crash_risk", "physical_cores"]

# Qwen-style ChatML, for GGUF files that carry no chat template.
_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def physical_cores() -> int:
    """Physical cores (llama.cpp gets slower on hyperthreads)."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except Exception:  # pragma: no cover - psutil missing on an odd platform
        n = None
    return max(1, n or os.cpu_count() or 1)


def amx_crash_risk(system_info: str, cpuinfo: str) -> bool:
    """True when llama.cpp was built with AMX kernels and this CPU has AMX: that combination
    segfaults on the first inference in ggml_backend_amx_mul_mat (seen with llama-cpp-python
    0.3.36 built with -march=native on Sapphire Rapids Xeons; upstream:
    https://github.com/ggml-org/llama.cpp/issues/20824, closed as stale without a fix)."""
    built_with_amx = "AMX" in system_info.upper()
    cpu_has_amx = "amx_tile" in cpuinfo or "amx_int8" in cpuinfo
    return built_with_amx and cpu_has_amx


def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


class LlamaCppBackend:
    """A GGUF model loaded by llama.cpp. Not thread-safe: callers serialize (ModelManager)."""

    name = "llama.cpp"

    def __init__(
        self,
        model_path: Path,
        *,
        # context
        n_ctx: int = 8192,
        n_batch: int = 512,
        # hardware
        threads: int = 0,
        gpu_layers: int = -1,
        # state reuse
        state_cache_bytes: int = 256 << 20,
        seed: int = 0,
    ) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise BackendUnavailable(
                "llama-cpp-python is not installed; run scripts/install.sh"
            ) from exc
        info = llama_cpp.llama_print_system_info().decode(errors="replace")
        if amx_crash_risk(info, _read_cpuinfo()):
            raise BackendUnavailable(
                "this llama-cpp-python build includes AMX kernels, which crash on this CPU; "
                "rebuild it portably with scripts/install.sh (it sets the right CMAKE_ARGS)"
            )
        self._gpu = bool(llama_cpp.llama_supports_gpu_offload())
        self._stack = ExitStack()
        self._path = Path(model_path)
        self._lock = threading.Lock()  # guards against misuse; ModelManager serializes anyway
        try:
            self._llm = llama_cpp.Llama(
                str(model_path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=threads or physical_cores(),
                n_gpu_layers=(gpu_layers if gpu_layers >= 0 else -1) if self._gpu else 0,
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelCorrupt(f"llama.cpp could not load {model_path.name}: {exc}") from exc
        self._stack.callback(self._llm.close)
        # Saved KV states of recent answers (a few, ~100 MB each at n_ctx 8192): switching
        # between chats then skips re-reading their context.
        self._llm.set_cache(compact_state_cache(llama_cpp, state_cache_bytes))
        self._grammars: dict[str, Any] = {}
        self._formatter = self._make_formatter(llama_cpp)
        self._model_id = f"llama.cpp:{self._path.name}:{self._path.stat().st_size}"

    def _make_formatter(self, llama_cpp: Any) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model = self._llm._model
        eos_id, bos_id = self._llm.token_eos(), self._llm.token_bos()
        template = self._llm.metadata.get("tokenizer.chat_template") or _CHATML
        return Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=model.token_get_text(bos_id) if bos_id != -1 else "",
            stop_token_ids=[eos_id],
        )

    # ------------------------------------------------------------------ Backend protocol
    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def context_window(self) -> int:
        return int(self._llm.n_ctx())

    @property
    def uses_gpu(self) -> bool:
        return self._gpu

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The exact tokens the model reads for these messages (chat template applied)."""
        result = self._formatter(
            messages=[{"role": m.role, "content": m.content} for m in messages]
        )
        return list(
            self._llm.tokenize(
                result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
            )
        )

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> TokenStream:
        tokens = self.prompt_tokens(messages)
        room = self.context_window - len(tokens)
        if room < 16:
            raise GenerationFailed(
                f"the prompt ({len(tokens)} tokens) leaves no room to answer in the model's "
                f"{self.context_window}-token window; lower the context budget"
            )
        max_tokens = min(params.max_tokens, room)
        if not self._lock.acquire(blocking=False):
            raise GenerationFailed("the model is busy with another request (internal error)")
        cache = self._llm.cache
        if not params.cache_state:
            self._llm.cache = None
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._llm.cache = cache
                self._lock.release()

        grammar = self._grammar(params.grammar) if params.grammar else None

        def pieces() -> Iterator[str]:
            try:
                out = self._llm.create_completion(
                    tokens,
                    max_tokens=max_tokens,
                    temperature=params.temperature,
                    top_p=0.9,
                    # a grammar already decides the form; a repeat penalty would only push
                    # the reply away from the evidence it must copy
                    repeat_penalty=1.0 if grammar is not None else 1.05,
                    seed=params.seed,
                    stop=list(params.stop),
                    stream=True,
                    grammar=grammar,
                )
                for part in out:
                    text = part["choices"][0]["text"]  # type: ignore[index]
                    if text:
                        yield text
            except (RuntimeError, ValueError) as exc:
                raise GenerationFailed(f"llama.cpp failed while answering: {exc}") from exc
            finally:
                release()

        return TokenStream(pieces(), prompt_tokens=len(tokens), on_close=release)

    def _grammar(self, gbnf: str) -> Any:
        """The compiled grammar for `gbnf` (a few recent ones are kept: a review grid asks the
        same form of question many times)."""
        from llama_cpp import LlamaGrammar

        grammar = self._grammars.get(gbnf)
        if grammar is None:
            try:
                grammar = LlamaGrammar.from_string(gbnf, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise GenerationFailed(f"invalid answer grammar ({exc})") from exc
            if len(self._grammars) >= 32:
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[gbnf] = grammar
        return grammar

    def close(self) -> None:
        self._stack.close()


def compact_state_cache(llama_cpp: Any, capacity_bytes: int) -> Any:
    """A `LlamaRAMCache` that keeps each saved state small and counts all of it.

    llama-cpp-python's `Llama.save_state` copies the whole logits buffer (n_batch x vocab
    floats: 311 MB for Qwen's 152k vocabulary at n_batch 512) into every state, and
    `LlamaRAMCache` counts only the KV bytes against its capacity, so the process grew by
    ~300 MB per answer (measured: 1.0 GB after one answer, 3.0 GB after eight). The logits are
    never read back: `Llama.load_state` marks the state for re-evaluation and `generate`
    re-decodes at least one token before sampling (llama_cpp/llama.py, `load_state` and the
    prefix check in `generate`, 0.3.36). So one row is kept (it broadcasts into the buffer on
    load), and the capacity counts everything a state holds.
    """

    class CompactRAMCache(llama_cpp.LlamaRAMCache):
        @property
        def cache_size(self) -> int:
            return sum(
                int(s.llama_state_size) + int(s.scores.nbytes) + int(s.input_ids.nbytes)
                for s in self.cache_state.values()
            )

        def __setitem__(self, key: Sequence[int], value: Any) -> None:
            compact = llama_cpp.llama.LlamaState(
                input_ids=value.input_ids,
                scores=value.scores[:1].copy(),
                n_tokens=value.n_tokens,
                llama_state=value.llama_state,
                llama_state_size=value.llama_state_size,
                seed=value.seed,
            )
            super().__setitem__(key, compact)

    return CompactRAMCache(capacity_bytes=capacity_bytes)
