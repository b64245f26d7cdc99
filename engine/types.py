"""Engine value types: stored documents and chunks, context items, citations, answers, the
summary tree's nodes, and saved sessions and notes. Frozen dataclasses; `to_json()` gives the
shapes of DESIGN.md's `ask --json`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from ingest.types import DocKind, Locator

__all__ = [
    "Answer",
    "AnswerState",
    "CellReview",
    "CellState",
    "Citation",
    "ContextItem",
    "DocumentAnswer",
    "DocumentInfo",
    "Grid",
    "GridCell",
    "GridColumn",
    "GridRow",
    "ItemKind",
    "ItemRef",
    "Message",
    "MessageRole",
    "Note",
    "OcrSummary",
    "Origin",
    "Session",
    "StoredChunk",
    "SummaryNode",
    "Timings",
    "Usage",
    "locator_from_json",
    "locator_json",
]


def locator_json(loc: Locator) -> dict[str, Any]:
    """The locator fields of the JSON contract (page/page_end, line_start/line_end, paragraph)."""
    out: dict[str, Any] = {
        "page": loc.page,
        "page_end": loc.page_end,
        "line_start": loc.line_start,
        "line_end": loc.line_end,
    }
    if loc.paragraph is not None:
        out["paragraph"] = loc.paragraph
        out["paragraph_end"] = loc.paragraph_end
    if loc.heading_path:
        out["heading_path"] = list(loc.heading_path)
    return out


def locator_from_json(d: dict[str, Any]) -> Locator:
    """The inverse of `locator_json` (missing fields are None; `doc_id` is read if present)."""
    return Locator(
        doc_id=d.get("doc_id", ""),
        page=d.get("page"),
        page_end=d.get("page_end"),
        line_start=d.get("line_start"),
        line_end=d.get("line_end"),
        paragraph=d.get("paragraph"),
        paragraph_end=d.get("paragraph_end"),
        heading_path=tuple(d.get("heading_path") or ()),
    )


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A document as stored in a project."""

    id: str
    name: str
    kind: DocKind
    source_key: str
    size_bytes: int
    n_pages: int | None
    n_chunks: int
    n_tokens: int
    ocr_pages: tuple[int, ...]
    added_at: str
    path: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as stored: the ingest chunk's fields plus its document's name and row id."""

    id: str
    rowid: int
    doc_id: str
    document: str
    ordinal: int
    text: str
    n_tokens: int
    locator: Locator
    overlap: int
    segments_json: str = "[]"


ItemKind = Literal["chunk", "node"]
#: Who attached a citation to its sentence: the model's own key, or Tomes, which found the
#: sentence in a source the model did not cite ("matched"); "closest" marks a passage shown
#: with an honest miss (the nearest the documents came, not support for a claim).
Origin = Literal["model", "matched", "closest"]
MessageRole = Literal["user", "assistant"]


class AnswerState(StrEnum):
    """What an answer (or one document's part of it, or a review-grid cell) came to."""

    FOUND = "found"  # answered, and the answer holds against its cited evidence
    NOT_FOUND = "not_found"  # the documents do not say
    UNCLEAR = "unclear"  # the model answered, but nothing it said could be verified


_NODE_PREFIX = "node:"


@dataclass(frozen=True, slots=True)
class ItemRef:
    """What a context item or a citation rests on: a chunk (by its chunk id) or a summary
    node (by its node id, as text). `key` is its form in JSON ("node:12" for a node, the
    bare chunk id for a chunk, as `tomes ask --json` and saved answers have always had it);
    `parse` reads that form back."""

    kind: ItemKind
    id: str

    @classmethod
    def chunk(cls, chunk_id: str) -> ItemRef:
        return cls("chunk", chunk_id)

    @classmethod
    def node(cls, node_id: int) -> ItemRef:
        return cls("node", str(node_id))

    @classmethod
    def parse(cls, key: str) -> ItemRef:
        """The ref written as `key` (chunk ids are a document hash prefix and an ordinal, so
        they never start with "node:")."""
        if key.startswith(_NODE_PREFIX):
            return cls.node(int(key[len(_NODE_PREFIX) :]))
        return cls.chunk(key)

    @property
    def key(self) -> str:
        return f"{_NODE_PREFIX}{self.id}" if self.kind == "node" else self.id

    @property
    def node_id(self) -> int:
        """The node's id (ValueError for a chunk)."""
        if self.kind != "node":
            raise ValueError(f"{self.key!r} is a chunk, not a summary node")
        return int(self.id)


@dataclass(frozen=True, slots=True)
class ContextItem:
    """One item packed into an answer's context: a chunk (level 0) or a summary node (level ≥ 1)."""

    key: str  # the minted citation key, e.g. "c3"
    chunk_id: str  # `ref.key`: the chunk id, or "node:<id>" for a summary (the JSON form)
    document: str
    locator: Locator
    text: str
    n_tokens: int
    level: int = 0
    score: float = 0.0
    doc_id: str = ""

    @property
    def ref(self) -> ItemRef:
        """What the item is, typed: a chunk or a summary node."""
        return ItemRef.parse(self.chunk_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "chunk_id": self.chunk_id,
            "document": self.document,
            **locator_json(self.locator),
            "level": self.level,
            "score": round(self.score, 6),
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """A minted key the answer used, resolved to where it came from."""

    key: str
    chunk_id: str  # `ref.key`, as in `ContextItem.chunk_id`
    document: str
    locator: Locator
    quote: str = ""  # the exact source text the claim rests on (highlighted in the viewer)
    verified: bool = True
    doc_id: str = ""
    origin: Origin = "model"

    @property
    def ref(self) -> ItemRef:
        """The chunk or summary node the citation rests on, typed."""
        return ItemRef.parse(self.chunk_id)

    def label(self) -> str:
        loc = self.locator.label()
        return f"{self.document} {loc}".strip()

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "chunk_id": self.chunk_id,
            "document": self.document,
            **locator_json(self.locator),
            "quote": self.quote,
            "verified": self.verified,
            "origin": self.origin,
        }


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Timings:
    retrieve_s: float = 0.0
    first_token_s: float | None = None
    total_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Answer:
    """A finished answer with its resolved citations and the context it was given."""

    question: str
    text: str
    citations: tuple[Citation, ...]
    context: tuple[ContextItem, ...]
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)
    supported: bool = True  # False: no citation survived verification
    notices: tuple[str, ...] = ()  # e.g. "the summary tree is still building (40%)"
    model: str = ""
    # For follow-ups: the model's raw output and the keys first shown at this turn, so the next
    # prompt can repeat this turn token for token and reuse its KV cache.
    raw_text: str = ""
    new_keys: tuple[str, ...] = ()
    followup: bool = False
    state: AnswerState = AnswerState.FOUND
    # the documents the question was answered within (empty: all of the project's)
    scope: tuple[str, ...] = ()
    # "each / every / which agreements …": one result per document in scope
    documents: tuple[DocumentAnswer, ...] = ()
    # sentences of the model's answer taken out because their sources do not hold them
    removed: tuple[str, ...] = ()
    # the user turn as the model read it (evidence and question): a follow-up repeats it
    turn: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question": self.question,
            "answer": self.text,
            "state": self.state.value,
            "supported": self.supported,
            "citations": [c.to_json() for c in self.citations],
            "context": [c.to_json() for c in self.context],
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
            },
            "timings": {
                "retrieve_s": round(self.timings.retrieve_s, 4),
                "first_token_s": None
                if self.timings.first_token_s is None
                else round(self.timings.first_token_s, 4),
                "total_s": round(self.timings.total_s, 4),
            },
            "notices": list(self.notices),
            "model": self.model,
            "scope": list(self.scope),
            "removed": list(self.removed),
        }
        if self.documents:
            out["documents"] = [d.to_json() for d in self.documents]
        return out


@dataclass(frozen=True, slots=True)
class DocumentAnswer:
    """One document's part of a per-document answer (and, in a review grid, one cell)."""

    doc_id: str
    document: str
    state: AnswerState
    text: str  # the short answer, with its keys; empty when not found
    citations: tuple[Citation, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "document": self.document,
            "state": self.state.value,
            "answer": self.text,
            "citations": [c.to_json() for c in self.citations],
        }


@dataclass(frozen=True, slots=True)
class SummaryNode:
    """A node of the summary tree. Level 1 summarizes chunks; level n summarizes level n-1.

    A per-document node covers the chunks of `doc_id` with ordinals `chunk_start` to
    `chunk_end` (inclusive), and `locator` is their page or line span. Corpus nodes span every
    document: `doc_id` is "", `chunk_start` and `chunk_end` are 0, and `locator` is empty.
    """

    id: int
    level: int
    text: str
    child_ids: tuple[str, ...]
    doc_id: str
    chunk_start: int
    chunk_end: int
    n_tokens: int
    made_by: str
    locator: Locator = field(default_factory=Locator)
    is_root: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    title: str
    created_at: str
    updated_at: str
    scope: tuple[str, ...] = ()  # the documents this chat asks about (empty: all)


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    session_id: int
    role: MessageRole
    text: str
    created_at: str
    answer_json: str | None = None  # the full Answer for assistant turns


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    title: str
    text: str
    created_at: str
    updated_at: str
    message_id: int | None = None
    citations_json: str = "[]"


@dataclass(frozen=True, slots=True)
class OcrSummary:
    """A document's scanned pages by state (for the documents list)."""

    pending: int = 0
    read: int = 0
    low_confidence: tuple[int, ...] = ()
    unreadable: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()


# ---------------------------------------------------------------------------------- review grid
class CellState(StrEnum):
    """What a review-grid cell holds: an answer's state, a failure, or nothing yet."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    UNCLEAR = "unclear"
    FAILED = "failed"  # the cell could not be computed (the reason is kept); retried next run
    PENDING = "pending"  # not computed yet (or computed with other settings: out of date)

    @classmethod
    def of(cls, state: AnswerState) -> CellState:
        return cls(state.value)


@dataclass(frozen=True, slots=True)
class GridColumn:
    """One question of a grid, with an optional short label for its column header."""

    question: str
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.question


@dataclass(frozen=True, slots=True)
class GridRow:
    """One document of a grid: its id and its name when it was chosen (a document replaced by
    a new version under the same name stays in the grid)."""

    doc_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Grid:
    """A saved review grid: questions (columns) asked of documents (rows; empty: every document
    of the project, including those added later)."""

    id: int
    name: str
    columns: tuple[GridColumn, ...]
    documents: tuple[GridRow, ...] = ()
    created_at: str = ""
    updated_at: str = ""

    @property
    def questions(self) -> tuple[str, ...]:
        return tuple(c.question for c in self.columns)


@dataclass(frozen=True, slots=True)
class CellReview:
    """A reviewer's marks on one cell. `edited` is the reviewer's answer (None: not edited);
    `original` is the model's answer as it was when it was edited."""

    reviewed: bool = False
    edited: str | None = None
    original: str = ""
    flagged: bool = False
    comment: str = ""
    updated_at: str = ""

    @property
    def empty(self) -> bool:
        return not (self.reviewed or self.edited is not None or self.flagged or self.comment)


@dataclass(frozen=True, slots=True)
class GridCell:
    """One document's answer to one question of a grid. `current` is False when the stored
    answer was made by another model, settings, kernel or document version (it is shown, and
    recomputed by the next run)."""

    doc_id: str
    document: str
    question: str
    state: CellState
    answer: str = ""
    citations: tuple[Citation, ...] = ()
    made_by: str = ""
    error: str = ""  # why a failed cell failed
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    current: bool = True

    @property
    def done(self) -> bool:
        return self.current and self.state is not CellState.PENDING

    def to_json(self) -> dict[str, Any]:
        """The cell in `tomes grid --json` (a failed cell also says why)."""
        out: dict[str, Any] = {
            "question": self.question,
            "state": self.state.value,
            "answer": self.answer,
            "citations": [
                {
                    "key": c.key,
                    "document": c.document,
                    "page": c.locator.page,
                    "page_end": c.locator.page_end,
                    "line_start": c.locator.line_start,
                    "line_end": c.locator.line_end,
                    "quote": c.quote,
                    "verified": c.verified,
                }
                for c in self.citations
            ],
        }
        if self.error:
            out["error"] = self.error
        return out
