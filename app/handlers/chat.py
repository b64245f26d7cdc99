"""Chat handlers: loading a chat session, new / rename / delete, selecting an answer, and
asking (the answer streams into the chat, then is saved with its sources)."""

from collections.abc import Iterator, Sequence

import gradio as gr

from app.handlers.base import ChatTurn, HandlerBase, Outputs, Update, skip, user_message
from app.views import answer_markdown, chips_html
from engine import ChatLog, Citation, TomesError
from engine.errors import AnswerPending

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
        """Outputs: session dropdown, chatbot, message ids, selected answer id, chips."""
        if not project:
            return gr.update(choices=[], value=None), [], [], None, chips_html([])
        with self._chatlog(project) as chats:
            sessions = chats.sessions()
            ids = [s.id for s in sessions]
            if session_id not in ids:
                session_id = ids[0] if ids else None
            messages, msg_ids = chat_messages(chats, session_id) if session_id else ([], [])
            answer_id, citations = self._last_answer(chats, msg_ids)
        choices = [(s.title, s.id) for s in sessions]
        return (
            gr.update(choices=choices, value=session_id),
            messages,
            msg_ids,
            answer_id,
            self._chips(project, citations),
        )

    def _last_answer(
        self, chats: ChatLog, msg_ids: Sequence[int]
    ) -> tuple[int | None, tuple[Citation, ...]]:
        for mid in reversed(msg_ids):
            answer = ChatLog.answer_of(chats.message(mid))
            if answer is not None:
                return mid, answer.citations
        return None, ()

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
                    return mid, self._chips(project, answer.citations)
        return gr.skip(), gr.skip()

    def ask(
        self,
        project: str | None,
        session_id: int | None,
        question: str | None,
        chat: list[ChatTurn] | None,
        msg_ids: list[int] | None,
    ) -> Iterator[Outputs]:
        """Stream an answer into the chat, then save it and show its sources. Errors are
        reported in place (in the chat), not only as a toast.
        Outputs: chatbot, question box, session dropdown, message ids, answer id, chips."""
        question = (question or "").strip()
        chat = list(chat or [])
        if not question:
            gr.Warning("Type a question first.")
            yield skip(6)
            return
        try:
            proj = self._project(project)
            if session_id is None:
                with self.ws.chats(proj) as chats:
                    session_id = chats.create_session().id
        except Exception as exc:
            gr.Warning(user_message(exc))
            yield skip(6)
            return
        chat.append({"role": "user", "content": question})
        chat.append({"role": "assistant", "content": "_Reading the documents…_"})
        waiting = chips_html([], empty="Sources appear when the answer is complete.")
        yield chat, "", gr.skip(), gr.skip(), None, waiting
        stream = None
        try:
            stream = self.ws.ask(proj, question, session_id=int(session_id))
            text = ""
            for piece in stream:
                text += piece
                # a new list each time: Gradio diffs each value against the one before
                chat = [*chat[:-1], {"role": "assistant", "content": text}]
                yield chat, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            answer = stream.result()
            try:
                self.ws.record(proj, int(session_id), answer)
            except AnswerPending as kept:
                # The answer stays on screen and on disk; the chat shows it once saved.
                gr.Warning(user_message(kept))
                chat = [*chat[:-1], {"role": "assistant", "content": text}]
                yield chat, gr.skip(), gr.skip(), gr.skip(), None, chips_html([], empty=" ")
                return
        except Exception as exc:
            message = user_message(exc)
            gr.Warning(message)
            chat = [*chat[:-1], {"role": "assistant", "content": f"⚠ {message}"}]
            yield chat, question, gr.skip(), gr.skip(), None, chips_html([], empty=" ")
            return
        finally:
            if stream is not None:
                stream.close()  # frees the model if the user stopped the answer
        dropdown, messages, ids, answer_id, chips = self.load_chat(project, session_id)
        yield messages, gr.skip(), dropdown, ids, answer_id, chips
