"""A deterministic backend for tests and demos: it answers by quoting the context item that
shares the most words with the question, citing its key. It is a real Backend, registered like
the others, so the whole answer path (packing, streaming, citation checks) runs unchanged.

It honours the two grammar forms the evidence path uses: a choice among quoted values
(`value ::= "a" | "b"`: it picks the value whose passage shares most words with the question)
and `"Yes" | "No"` (Yes when some passage shares a word with the question)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence

from engine.llm.backends.base import ChatMessage, GenerationParams, TokenStream

__all__ = ["FakeBackend"]

_ITEM = re.compile(r"^\[([ce]\d+)\][^\n]*\n(.*?)(?=^\[[ce]\d+\]|^Question:|\Z)", re.M | re.S)
_CHOICE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_WORD = re.compile(r"\w+")


class FakeBackend:
    name = "fake"

    def __init__(
        self, *, n_ctx: int = 8192, script: str | None = None, delay_s: float = 0.0
    ) -> None:
        self._n_ctx = n_ctx
        self._script = script  # a fixed reply, for tests of citation handling
        self._delay_s = delay_s  # per piece: lets crash tests kill a process mid-generation

    @property
    def model_id(self) -> str:
        return "fake:quote-best-match"

    @property
    def context_window(self) -> int:
        return self._n_ctx

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text)) + text.count("\n")

    def reply(self, messages: Sequence[ChatMessage], grammar: str | None = None) -> str:
        if self._script is not None:
            return self._script
        if grammar:
            return self._choose(messages, grammar)
        if messages and messages[0].content.startswith("You write faithful"):
            # a summary request: the opening words of each passage, deterministically
            body = messages[-1].content.split("\n\n", 2)[-1]
            return " ".join(" ".join(p.split()[:12]) for p in body.split("\n\n"))
        prompt = "\n".join(m.content for m in messages if m.role != "assistant")
        question = messages[-1].content.rsplit("Question:", 1)[-1]
        q = {w.lower() for w in _WORD.findall(question) if len(w) > 3}
        best: tuple[int, str, str] | None = None
        for key, body in _ITEM.findall(prompt):
            words = {w.lower() for w in _WORD.findall(body)}
            score = len(q & words)
            if best is None or score > best[0]:
                best = (score, key, body)
        if best is None or best[0] == 0:
            return "I could not find this in the documents."
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", best[2]) if s.strip()]
        pick = max(sentences, key=lambda s: len(q & {w.lower() for w in _WORD.findall(s)}))
        pick = " ".join(pick.split())[:300]
        return f'The documents say: "{pick}" [{best[1]}]'

    def _choose(self, messages: Sequence[ChatMessage], grammar: str) -> str:
        """A reply the grammar allows: the best-matching value, or Yes/No."""
        prompt = "\n".join(m.content for m in messages if m.role != "assistant")
        question = messages[-1].content.rsplit("Question:", 1)[-1]
        q = {w.lower() for w in _WORD.findall(question) if len(w) > 3}
        items = _ITEM.findall(prompt)

        def overlap(body: str) -> int:
            return len(q & {w.lower() for w in _WORD.findall(body)})

        if '"Yes"' in grammar and '"No"' in grammar and "value ::=" not in grammar:
            return "Yes" if any(overlap(body) for _, body in items) else "No"
        line = next((ln for ln in grammar.splitlines() if ln.startswith("value ::=")), "")
        values = [v.replace('\\"', '"').replace("\\\\", "\\") for v in _CHOICE.findall(line)]
        best: tuple[int, str] | None = None
        for value in values:
            score = max(
                (overlap(body) for _, body in items if value in " ".join(body.split())), default=-1
            )
            if score >= 0 and (best is None or score > best[0]):
                best = (score, value)
        return best[1] if best is not None else "NOT FOUND"

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> TokenStream:
        text = self.reply(messages, params.grammar)[: params.max_tokens * 8]
        words = re.findall(r"\S+\s*|\s+", text)
        pieces: Iterator[str] = iter(words) if not self._delay_s else self._slow(words)
        return TokenStream(
            pieces, prompt_tokens=sum(self.count_tokens(m.content) for m in messages)
        )

    def _slow(self, words: list[str]) -> Iterator[str]:
        for word in words:
            time.sleep(self._delay_s)
            yield word

    def close(self) -> None:
        return None
