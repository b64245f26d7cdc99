"""transformers on torch (optional extra `[torch]`): a model folder, or a GGUF file that
transformers dequantizes (needs `gguf` and `accelerate`). Slower to load and to run than
llama.cpp on a CPU (measured: 35 s load, 4.3 GB RAM for the 0.5B model), but it runs any
transformers checkpoint and uses CUDA/MPS where torch has them."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.errors import BackendUnavailable, ModelCorrupt
from engine.llm.backends.base import ChatMessage, GenerationParams, TokenStream

__all__ = ["TorchBackend"]


class TorchBackend:
    """A causal LM through transformers, streamed with TextIteratorStreamer."""

    name = "torch"

    def __init__(self, model_path: Path, *, n_ctx: int = 8192, threads: int = 0) -> None:
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise BackendUnavailable(
                "the torch backend needs the [torch] extra: scripts/install.sh torch"
            ) from exc
        if threads:
            torch.set_num_threads(threads)
        path = Path(model_path)
        kwargs: dict[str, Any] = {"local_files_only": True}
        if path.suffix.lower() == ".gguf":
            try:
                import accelerate  # noqa: F401
                import gguf  # noqa: F401
            except ImportError as exc:
                raise BackendUnavailable(
                    "loading a .gguf with the torch backend needs `gguf` and `accelerate`: "
                    "scripts/install.sh torch"
                ) from exc
            source, kwargs["gguf_file"] = str(path.parent), path.name
        else:
            source = str(path)
        if torch.cuda.is_available():
            self._device = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            self._device = "mps"
        else:
            self._device = "cpu"
        try:
            self._tok: Any = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
            auto_model: Any = transformers.AutoModelForCausalLM
            self._model: Any = auto_model.from_pretrained(
                source,
                dtype=torch.float32 if self._device == "cpu" else torch.float16,
                **kwargs,
            ).to(self._device)
        except (OSError, ValueError) as exc:
            raise ModelCorrupt(f"transformers could not load {path}: {exc}") from exc
        self._model.eval()
        self._torch = torch
        self._transformers = transformers
        self._n_ctx = n_ctx
        size = path.stat().st_size if path.is_file() else 0
        self._model_id = f"torch:{path.name}:{size}"
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def context_window(self) -> int:
        limit = getattr(self._model.config, "max_position_embeddings", None) or self._n_ctx
        return min(self._n_ctx, int(limit))

    def count_tokens(self, text: str) -> int:
        return len(self._tok(text, add_special_tokens=False)["input_ids"])

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> TokenStream:
        chat = [{"role": m.role, "content": m.content} for m in messages]
        ids: Any = self._tok.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        input_ids = ids["input_ids"].to(self._device)
        streamer = self._transformers.TextIteratorStreamer(
            self._tok, skip_prompt=True, skip_special_tokens=True
        )
        gen_kwargs: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": ids["attention_mask"].to(self._device),
            "max_new_tokens": params.max_tokens,
            "streamer": streamer,
            "do_sample": params.temperature > 0,
            "pad_token_id": self._tok.eos_token_id,
        }
        if params.temperature > 0:
            gen_kwargs["temperature"] = params.temperature
            self._torch.manual_seed(params.seed)
        if params.stop:
            gen_kwargs["stop_strings"] = list(params.stop)
            gen_kwargs["tokenizer"] = self._tok
        self._lock.acquire()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with self._torch.inference_mode():
                    self._model.generate(**gen_kwargs)
            except BaseException as exc:  # surfaced to the consumer below
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name="tomes-torch-generate", daemon=True)
        worker.start()

        def pieces() -> Iterator[str]:
            try:
                for text in streamer:
                    if text:
                        yield text
                worker.join()
                if errors:
                    raise errors[0]
            finally:
                worker.join()
                if self._lock.locked():
                    self._lock.release()

        return TokenStream(pieces(), prompt_tokens=int(input_ids.shape[1]))

    def close(self) -> None:
        self._model = None
        if self._device == "cuda":
            self._torch.cuda.empty_cache()
