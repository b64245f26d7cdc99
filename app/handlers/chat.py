"""Chat handlers: loading a chat session, new / rename / delete, the chat's chosen documents,
selecting an answer, and asking (the sources being read show at once with the time spent,
the answer streams into the chat, then is saved with its sources)."""

import queue
import threading
import time
from collections.abc import Iterator, Sequence

import gradio as gr

from app.handlers.base import ChatTurn, HandlerBase, Outputs, Update, skip, user_message
from app.views import answer_markdown, chips_html, reading_line, sources_of
from engine import AnswerStream, ChatLog, Citation, TomesError
from engine.errors import AnswerPending

# While the model reads, the status line is refreshed this often (seconds).
_TICK = 0.5

__all__ = ["ChatHandlers", "chat_messages"]

_DELETE_CHAT = "deleting the chat"


def chat_messages(chats: ChatLog, session_id: int) -> tuple[list[ChatTurn], list[int]]:
    """A saved session as chatbot messages, and the message ids in the same order."""
    messages: list[ChatTurn] = []
    ids: list[int] = []
    for m in chats.messages(session_id):
        answer = ChatLog.answer_of(m)
        content = answer_markdown(answer) if answer is not None else m.text
        messages.append(
            {"role": "assistant" if m.role == "assistant" else "user", "content": content}
        )
        ids.append(m.id)
    return messages, ids


class ChatHandlers(HandlerBase):
    def _chips(self, project: str | None, citations: Sequence[Citation]) -> str:
        """Citation chips, those on pages OCR read with low confidence marked."""
        doubtful: frozenset[tuple[str, int]] = frozenset()
        if project and citations:
            doubtful = self.ws.doubtful_pages(self._project(project), citations)
        return chips_html(citations, doubtful=doubtful)

    def load_chat(self, project: str | None, session_id: int | None = None) -> Outputs:
        """Outputs: session dropdown, chatbot, message ids, selected answer id, chips, the
        chat's document picker."""
        if not project:
            empty = gr.update(choices=[], value=None)
            return empty, [], [], None, chips_html([]), gr.update(choices=[], value=[])
        proj = self._project(project)
        with self.ws.chats(proj) as chats:
            sessions = chats.sessions()
            ids = [s.id for s in sessions]
            if session_id not in ids:
                session_id = ids[0] if ids else None
            messages, msg_ids = chat_messages(chats, session_id) if session_id else ([], [])
            answer_id, citations = self._last_answer(chats, msg_ids)
            scope = chats.session(session_id).scope if session_id else ()
        docs = [(d.name, d.id) for d in self.ws.documents(proj)]
        known = {doc_id for _, doc_id in docs}
        choices = [(s.title, s.id) for s in sessions]
        return (
            gr.update(choices=choices, value=session_id),
            messages,
            msg_ids,
            answer_id,
            self._chips(project, citations),
            gr.update(choices=docs, value=[d for d in scope if d in known]),
        )

    def _last_answer(
        self, chats: ChatLog, msg_ids: Sequence[int]
    ) -> tuple[int | None, tuple[Citation, ...]]:
        for mid in reversed(msg_ids):
            answer = ChatLog.answer_of(chats.message(mid))
            if answer is not None:
                return mid, sources_of(answer)
        return None, ()

    def set_sources(
        self, project: str | None, session_id: int | None, doc_ids: list[str] | None
    ) -> tuple[Update, str]:
        """Save which documents the chat asks about (none chosen: all of them); a chat is
        created for the choice if there is none yet. Outputs: session dropdown, status."""
        proj = self._project(project)
        with self.ws.chats(proj) as chats:
            if session_id is None:
                session_id = chats.create_session().id
            chats.set_scope(int(session_id), list(doc_ids or []))
            choices = [(s.title, s.id) for s in chats.sessions()]
        n = len(doc_ids or [])
        line = (
            f"This chat asks about {n} chosen document{'s' if n != 1 else ''}."
            if n
            else "This chat asks about every document of the project."
        )
        return gr.update(choices=choices, value=session_id), line

    def new_session(self, project: str | None) -> Outputs:
        with self._chatlog(project) as chats:
            session = chats.create_session()
        return self.load_chat(project, session.id)

    def rename_session(
        self, project: str | None, session_id: int | None, title: str | None
    ) -> tuple[Update, object]:
        """Outputs: session dropdown, the rename form (hidden)."""
        if session_id is None:
            raise TomesError("there is no chat to rename yet: ask a question first")
        with self._chatlog(project) as chats:
            chats.rename_session(int(session_id), title or "")
            choices = [(s.title, s.id) for s in chats.sessions()]
        return gr.update(choices=choices, value=session_id), gr.update(visible=False)

    def delete_session(
        self, project: str | None, session_id: int | None, nonce: str | None = None
    ) -> Outputs:
        """Outputs: those of `load_chat`, then the confirmation row (hidden)."""
        if session_id is not None:
            self.confirmations.check(_DELETE_CHAT, f"{project}/{session_id}", nonce)
            with self._chatlog(project) as chats:
                chats.delete_session(int(session_id))
        return (*self.load_chat(project), gr.update(visible=False))

    def confirm_delete_session(
        self, project: str | None, session_id: int | None
    ) -> tuple[Update, object, str]:
        """Outputs: the confirmation row, its question, the nonce for the second click."""
        if session_id is None:
            raise TomesError("there is no chat to delete")
        with self._chatlog(project) as chats:
            title = chats.session(int(session_id)).title
        nonce = self.confirmations.issue(_DELETE_CHAT, f"{project}/{session_id}")
        return gr.update(visible=True), f"Delete the chat **{title}** and its messages?", nonce

    def select_message(
        self, project: str | None, msg_ids: list[int], evt: gr.SelectData
    ) -> tuple[int | Update, str | Update]:
        """A click on a chat message selects its answer (a question selects the answer after
        it). Outputs: selected answer id, chips."""
        index = evt.index if isinstance(evt.index, int) else int(evt.index[0])
        with self._chatlog(project) as chats:
            for mid in list(msg_ids)[index:]:
                answer = ChatLog.answer_of(chats.message(mid))
                if answer is not None:
                    return mid, self._chips(project, sources_of(answer))
        return gr.skip(), gr.skip()

    def ask(
        self,
        project: str | None,
        session_id: int | None,
        question: str | None,
        chat: list[ChatTurn] | None,
        msg_ids: list[int] | None,
        doc_ids: list[str] | None = None,
    ) -> Iterator[Outputs]:
        """Stream an answer into the chat, then save it and show its sources. The passages
        being read, and the time spent, show before the first word. Errors are reported in
        place (in the chat), not only as a toast.
        Outputs: chatbot, question box, session dropdown, message ids, answer id, chips,
        status line."""
        question = (question or "").strip()
        chat = list(chat or [])
        if not question:
            gr.Warning("Type a question first.")
            yield skip(7)
            return
        try:
            proj = self._project(project)
            with self.ws.chats(proj) as chats:
                if session_id is None:
                    session_id = chats.create_session().id
                if doc_ids is not None and list(chats.session(int(session_id)).scope) != list(
                    doc_ids
                ):
                    chats.set_scope(int(session_id), list(doc_ids))
        except Exception as exc:
            gr.Warning(user_message(exc))
            yield skip(7)
            return
        started = time.monotonic()
        chat.append({"role": "user", "content": question})
        chat.append(
            {"role": "assistant", "content": "_Looking for the passages that answer this…_"}
        )
        waiting = chips_html([], empty="The passages being read appear here.")
        yield chat, "", gr.skip(), gr.skip(), None, waiting, reading_line([], 0.0, writing=False)
        stream = None
        pump: _Pump | None = None
        try:
            stream = self.ws.ask(proj, question, session_id=int(session_id))
            sources = [(c.document, c.locator.label()) for c in stream.context]
            reading = chips_html(
                [], empty="Reading: " + "; ".join(f"{d} {w}".strip() for d, w in sources[:6])
            ) if sources else gr.skip()  # fmt: skip
            elapsed = time.monotonic() - started
            yield (
                gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), reading,
                reading_line(sources, elapsed, writing=False),
            )  # fmt: skip
            text = ""
            pump = _Pump(stream)
            for piece in pump.pieces():
                elapsed = time.monotonic() - started
                if piece is None:  # still reading: say for how long
                    sources = [(c.document, c.locator.label()) for c in stream.context]
                    line = reading_line(sources, elapsed, writing=bool(text))
                    yield (*skip(6), line)
                    continue
                text += piece
                # a new list each time: Gradio diffs each value against the one before
                chat = [*chat[:-1], {"role": "assistant", "content": text}]
                yield chat, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            answer = stream.result()
            try:
                self.ws.record(proj, int(session_id), answer)
            except AnswerPending as kept:
                # The answer stays on screen and on disk; the chat shows it once saved.
                gr.Warning(user_message(kept))
                chat = [*chat[:-1], {"role": "assistant", "content": text}]
                yield (
                    chat, gr.skip(), gr.skip(), gr.skip(), None, chips_html([], empty=" "),
                    "Answered; saving it is waiting for the project to be free.",
                )  # fmt: skip
                return
        except Exception as exc:
            message = user_message(exc)
            gr.Warning(message)
            chat = [*chat[:-1], {"role": "assistant", "content": f"⚠ {message}"}]
            yield chat, question, gr.skip(), gr.skip(), None, chips_html([], empty=" "), ""
            return
        finally:
            if pump is not None and pump.running:
                pump.stop()  # the user stopped the answer: the worker closes the stream
            elif stream is not None:
                stream.close()  # frees the model (a no-op once the stream has ended)
        dropdown, messages, ids, answer_id, chips, _docs = self.load_chat(project, session_id)
        took = time.monotonic() - started
        done = f"Answered in {took:.1f} s." if answer.state == "found" else f"Done in {took:.1f} s."
        yield messages, gr.skip(), dropdown, ids, answer_id, chips, done


class _Pump:
    """Reads an answer stream on a worker thread, so the handler can say how long the model
    has been reading while no word has come yet. The worker alone touches the stream until it
    ends; `stop()` asks it to close the stream (after the piece it is waiting for), which
    frees the model."""

    def __init__(self, stream: AnswerStream) -> None:
        self._stream = stream
        self._queue: queue.Queue[tuple[str | None, BaseException | None, bool]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tomes-answer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for piece in self._stream:
                if self._stop.is_set():
                    self._stream.close()
                    break
                self._queue.put((piece, None, False))
        except BaseException as exc:  # re-raised in the handler's thread
            self._queue.put((None, exc, True))
            return
        self._queue.put((None, None, True))

    def pieces(self) -> Iterator[str | None]:
        """The stream's pieces, and None every `_TICK` seconds while none comes."""
        while True:
            try:
                piece, error, finished = self._queue.get(timeout=_TICK)
            except queue.Empty:
                yield None
                continue
            if error is not None:
                raise error
            if finished:
                return
            yield piece

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
