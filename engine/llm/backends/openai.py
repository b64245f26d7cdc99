"""Any OpenAI-compatible chat-completions server: llama.cpp's server, vLLM, Ollama, LM Studio.

This is the path past one machine: point Tomes at a GPU server and summary building fans out
over concurrent requests. Servers do not share a tokenizer API, so budgets are measured with
cl100k plus a safety margin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence

from engine.errors import BackendUnavailable, GenerationFailed
from engine.llm.backends.base import ChatMessage, GenerationParams, TokenStream

__all__ = ["OpenAIBackend"]

_MARGIN = 1.15  # cl100k vs. the server's tokenizer: measured within ±12% on Qwen/Llama vocabularies


class OpenAIBackend:
    """Chat completions over HTTP with server-sent-event streaming."""

    name = "openai"
    # The server schedules requests itself, and httpx.Client is thread-safe: fan-out jobs (a
    # review grid) may send many at once (`ModelManager.share`).
    concurrent = True

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "",
        api_key: str = "",
        n_ctx: int = 8192,
        timeout_s: float = 600.0,
    ) -> None:
        import httpx

        from ingest.tokens import cl100k

        self._base = base_url.rstrip("/")
        self._model = model
        self._n_ctx = n_ctx
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self._base, headers=headers, timeout=timeout_s)
        self._tok = cl100k()
        if not self._model:
            self._model = self._first_model()

    def _first_model(self) -> str:
        import httpx

        try:
            resp = self._client.get("/models", timeout=10.0)
            resp.raise_for_status()
            data = resp.json().get("data") or []
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendUnavailable(
                f"cannot reach the model server at {self._base} ({exc}); start it or fix --base-url"
            ) from exc
        if not data:
            raise BackendUnavailable(
                f"the server at {self._base} lists no models; pass --api-model"
            )
        return str(data[0]["id"])

    @property
    def model_id(self) -> str:
        return f"openai:{self._model}@{self._base}"

    @property
    def context_window(self) -> int:
        return self._n_ctx

    def count_tokens(self, text: str) -> int:
        return math.ceil(self._tok.count(text) * _MARGIN)

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> TokenStream:
        import httpx

        body = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "seed": params.seed,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.grammar:
            # llama.cpp's servers (llama-server, llama_cpp.server) constrain decoding with it;
            # servers without grammars ignore the field, and the reply is checked either way
            body["grammar"] = params.grammar
        prompt_estimate = sum(self.count_tokens(m.content) + 4 for m in messages)

        def pieces(stream: TokenStream) -> Iterator[str]:
            try:
                with self._client.stream("POST", "/chat/completions", json=body) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        raise GenerationFailed(
                            f"the model server answered {resp.status_code}: {resp.text[:300]}"
                        )
                    finished = False
                    for line in resp.iter_lines():
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            break
                        event = json.loads(data)
                        usage = event.get("usage")
                        if usage and usage.get("prompt_tokens"):
                            stream.prompt_tokens = int(usage["prompt_tokens"])
                        for choice in event.get("choices") or []:
                            text = (choice.get("delta") or {}).get("content")
                            if text:
                                yield text
                            finished = finished or bool(choice.get("finish_reason"))
                    if not finished:
                        # A reply cut short reads like a short answer: say so instead. The
                        # usual cause: llama_cpp.server stops a request when another arrives
                        # (its --interrupt_requests, on by default).
                        raise GenerationFailed(
                            f"the model server at {self._base} ended a reply before it was "
                            "finished; if it is llama_cpp.server, start it with "
                            "--interrupt_requests false to serve several requests"
                        )
            except httpx.HTTPError as exc:
                raise BackendUnavailable(
                    f"lost the model server at {self._base} ({exc}); is it running?"
                ) from exc

        return TokenStream.reporting(pieces, prompt_tokens=prompt_estimate)

    def close(self) -> None:
        self._client.close()
