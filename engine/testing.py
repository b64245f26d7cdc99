"""Public test seams, like httpx's `MockTransport`: deterministic stand-ins for the two models
Tomes runs, so tests (ours and yours) never patch internals.

    FakeBackend     a real `Backend`, registered as backend "fake": it answers by quoting the
                    context item that shares the most words with the question, citing its key
    HashEmbedder    a dependency-free `Embedder`: a hashed bag of lowercase words
    StubOpenAIServer  an OpenAI-compatible chat server on 127.0.0.1 that answers like
                    FakeBackend after a fixed delay, and counts the requests it has in flight
                    at once (how tests and bench/grid.py prove a fan-out)
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from engine.index.embed import F32, normalize
from engine.llm.backends.base import ChatMessage
from engine.llm.backends.fake import FakeBackend

__all__ = ["FakeBackend", "HashEmbedder", "StubOpenAIServer"]

_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """A deterministic, dependency-free `Embedder` for tests: a hashed bag of lowercase words.
    Texts sharing words are similar; nothing is semantic. One word is one token."""

    def __init__(self, *, dim: int = 64, max_tokens: int = 256, model_id: str = "hash") -> None:
        self._dim, self._max_tokens, self._model_id = dim, max_tokens, model_id

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def embed(self, texts: Sequence[str]) -> F32:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())[: self._max_tokens - 2]
            for w in words:
                out[row, int(hashlib.md5(w.encode()).hexdigest()[:8], 16) % self._dim] += 1.0
            if not words:
                out[row, 0] = 1.0
        return normalize(out)

    def windows(self, text: str, *, limit: int) -> list[tuple[str, int]]:
        spans = [m.span() for m in _WORD.finditer(text)]
        if not spans:
            return [(text, 0)]
        room = self._max_tokens - 2
        out = []
        for i in range(0, min(len(spans), room * limit), room):
            part = spans[i : i + room]
            out.append((text[part[0][0] : part[-1][1]], len(part)))
        return out


class StubOpenAIServer:
    """An OpenAI-compatible server (`/v1/models`, streamed `/v1/chat/completions`) on
    127.0.0.1 and a free port. Each request waits `delay_s` (a model's compute time; requests
    wait side by side, like a server with many slots) and is answered the way `FakeBackend`
    answers the same messages and grammar. `max_in_flight` is the most requests it held at
    once; `requests` counts them all.

        with StubOpenAIServer(delay_s=0.5) as server:
            settings = Settings.load(overrides={"model.backend": "openai",
                                                "model.base_url": server.url})
    """

    def __init__(self, *, delay_s: float = 0.0, model: str = "stub-model") -> None:
        self.delay_s = delay_s
        self.model = model
        # True: replies end without a finish_reason, as llama_cpp.server's interrupted ones do
        self.cut_short = False
        self.requests = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._count_lock = threading.Lock()
        self._fake = FakeBackend()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stub server is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> StubOpenAIServer:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return None

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    body = json.dumps({"data": [{"id": stub.model}]}).encode()
                    self._send(200, body, "application/json")
                else:
                    self._send(404, b"{}", "application/json")

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(size) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, b"{}", "application/json")
                    return
                self._send(200, stub.reply(request), "text/event-stream")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tomes-stub-openai", daemon=True
        )
        self._thread.start()
        return self

    def reply(self, request: dict[str, Any]) -> bytes:
        """The server-sent events answering one chat request (after the delay)."""
        with self._count_lock:
            self.requests += 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            messages = [
                ChatMessage(m.get("role", "user"), str(m.get("content", "")))
                for m in request.get("messages", [])
            ]
            text = self._fake.reply(messages, request.get("grammar"))
        finally:
            with self._count_lock:
                self._in_flight -= 1
        events: list[dict[str, Any]] = [
            {"choices": [{"delta": {"content": word}}]} for word in re.findall(r"\S+\s*|\s+", text)
        ]
        if not self.cut_short:
            events.append({"choices": [{"delta": {}, "finish_reason": "stop"}]})
        prompt = sum(self._fake.count_tokens(m.content) for m in messages)
        events.append({"choices": [], "usage": {"prompt_tokens": prompt}})
        lines = [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]
        return "".join(lines).encode()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StubOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
