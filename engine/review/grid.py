"""The review grid: one set of questions (columns) asked of every chosen document (rows), each
cell answered by the per-document kernel (`engine.qa.perdoc.answer_in_document`) and stored
the moment it is finished.

    recipe = Recipe.of(settings, dense="minilm")        # what every cell is made with
    for step in run_grid(grid, rows, store=store, kit=kit, recipe=recipe, concurrency=8):
        print(step.done, step.total, step.estimate_s)

- **Re-running computes only what changed.** Every cell records `made_by`: the kernel's
  fingerprint, the model's identity, a hash of the settings that shape answers, whether dense
  search was on, the document (its sha256 id) and the question. A cell whose `made_by` differs
  from what this run would write, or that failed, is computed again; the rest are reused. The
  corpus-wide keyword weights (idf) shift a little as documents are added; that alone does not
  invalidate cells.
- **Nothing finished is lost.** Each cell is committed in its own transaction as soon as it is
  answered (`engine.store.grids.write_cell`), so `kill -9` mid-grid loses no finished cell and
  the next run resumes with the rest.
- **Fan-out.** Cells are independent. With a backend that serves concurrent requests (the
  OpenAI-compatible one: vLLM, llama.cpp's server with `--parallel`, Ollama) up to
  `concurrency` cells run at once, each on its own store connection, holding the model shared
  (`ModelManager.share`). With llama.cpp in process, cells run one by one through the model
  lock at background priority (a chat question goes first between two cells), question by
  question, so consecutive prompts share the fixed instructions and llama.cpp reuses that KV
  prefix instead of reading it again.
- **Faults stay in their cell.** A cell that cannot be answered (a document that fails, a
  server that errors, a question longer than the model's window) is stored as `failed` with
  the reason, and the rest of the grid completes; the next run retries failed cells.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

from engine.errors import Cancelled, TomesError
from engine.store import grids as grid_rows
from engine.types import (
    CellReview,
    CellState,
    DocumentInfo,
    Grid,
    GridCell,
    GridColumn,
)

if TYPE_CHECKING:
    from engine.llm.models import ModelManager
    from engine.qa.evidence import Embed, Idf
    from engine.qa.retrieve import Retriever
    from engine.settings import Settings
    from engine.store.db import ProjectStore

__all__ = [
    "KERNEL_MODULES",
    "CellKit",
    "GridPage",
    "GridPageRow",
    "GridProgress",
    "Recipe",
    "answer_cell",
    "answer_settings_hash",
    "grid_page",
    "grid_status",
    "kernel_fingerprint",
    "parse_questions",
    "resolve_rows",
    "run_grid",
]

#: The modules whose code decides a cell's answer: their fingerprint is part of every cell's
#: `made_by`, so changing how answers are made recomputes cells instead of reusing them.
#: (tests/engine/test_grid.py checks that every module of engine/qa is listed.)
KERNEL_MODULES = (
    "engine.qa.answer_types",
    "engine.qa.binding",
    "engine.qa.choices",
    "engine.qa.citations",
    "engine.qa.compose",
    "engine.qa.evidence",
    "engine.qa.facts",
    "engine.qa.fusion",
    "engine.qa.governing_law",
    "engine.qa.instructions",
    "engine.qa.intent",
    "engine.qa.packing",
    "engine.qa.parties",
    "engine.qa.perdoc",
    "engine.qa.periods",
    "engine.qa.retrieve",
    "engine.qa.scope",
    "engine.qa.sentences",
    "engine.qa.term_end",
    "engine.index.lexical",
)
_MAX_QUESTION_SHARE = 2  # a question may take at most 1/2 of the model's window


# ---------------------------------------------------------------------------------- made_by
def _stable(value: Any) -> str | None:
    """A repr of a constant that is the same in every process (sets sorted), or None for
    values that are not plain constants."""
    if value is None or isinstance(value, (str, bytes, int, float, bool)):
        return repr(value)
    if isinstance(value, Enum):
        return f"{type(value).__name__}.{value.name}={_stable(value.value)}"
    if isinstance(value, re.Pattern):
        return f"re({value.pattern!r},{value.flags})"
    if isinstance(value, (tuple, list)):
        parts = [_stable(v) for v in value]
        return None if None in parts else "(" + ",".join(p or "" for p in parts) + ")"
    if isinstance(value, (set, frozenset)):
        parts = [_stable(v) for v in value]
        return None if None in parts else "{" + ",".join(sorted(p or "" for p in parts)) + "}"
    if isinstance(value, dict):
        items = [(_stable(k), _stable(v)) for k, v in value.items()]
        if any(k is None or v is None for k, v in items):
            return None
        return "{" + ",".join(sorted(f"{k}:{v}" for k, v in items)) + "}"
    return None


def _digest_code(h: Any, code: types.CodeType, doc: str | None = None) -> None:
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    for i, const in enumerate(code.co_consts):
        if isinstance(const, types.CodeType):
            _digest_code(h, const)
        elif not (i == 0 and doc is not None and const == doc):  # docstrings do not count
            h.update((_stable(const) or type(const).__name__).encode())


def _digest_function(h: Any, fn: Any) -> None:
    fn = getattr(fn, "__func__", fn)  # staticmethod, classmethod
    code = getattr(fn, "__code__", None)
    if isinstance(code, types.CodeType):
        _digest_code(h, code, fn.__doc__)


@cache
def kernel_fingerprint() -> str:
    """A short hash of the code and constants of `KERNEL_MODULES` (bytecode, not source, so
    it works in the desktop bundle too; docstrings and comments do not count)."""
    import importlib

    h = hashlib.sha256()
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        h.update(name.encode())
        for attr, value in sorted(vars(module).items()):
            if attr.startswith("__"):
                continue
            h.update(attr.encode())
            if isinstance(value, types.FunctionType) and value.__module__ == name:
                _digest_function(h, value)
            elif isinstance(value, type) and value.__module__ == name:
                for member, item in sorted(vars(value).items()):
                    if member.startswith("__") and member != "__init__":
                        continue
                    h.update(member.encode())
                    if isinstance(item, property):
                        for part in (item.fget, item.fset):
                            if part is not None:
                                _digest_function(h, part)
                    elif isinstance(item, (types.FunctionType, staticmethod, classmethod)):
                        _digest_function(h, item)
                    else:
                        h.update((_stable(item) or "").encode())
            else:
                h.update((_stable(value) or "").encode())
    return h.hexdigest()[:12]


def answer_settings_hash(settings: Settings) -> str:
    """A hash of the settings that shape a cell's answer: every retrieval setting and the
    model's window, sampling and answer length (not threads, GPU layers or the server's
    address, which change speed, not answers)."""
    m = settings.model
    data = {
        "retrieval": dataclasses.asdict(settings.retrieval),
        "model": {
            "n_ctx": m.n_ctx,
            "temperature": m.temperature,
            "max_answer_tokens": m.max_answer_tokens,
            "seed": m.seed,
        },
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Recipe:
    """What every cell of a run is made with; `made_by(doc_id, question)` is a cell's stamp."""

    kernel: str
    model: str
    settings: str
    dense: str  # the embedding model's id, or "off"

    @classmethod
    def of(cls, settings: Settings, *, dense: str | None) -> Recipe:
        from engine.llm.backends import model_identity

        return cls(
            kernel_fingerprint(),
            model_identity(settings),
            answer_settings_hash(settings),
            dense or "off",
        )

    def made_by(self, doc_id: str, question: str) -> str:
        q = hashlib.sha256(question.encode()).hexdigest()[:12]
        return (
            f"grid:{self.kernel}|{self.model}|{self.settings}|dense:{self.dense}"
            f"|doc:{doc_id[:16]}|q:{q}"
        )


# ---------------------------------------------------------------------------------- definition
def parse_questions(text: str) -> list[GridColumn]:
    """Questions typed one per line ("Label: question" or "Label | question" gives a short
    column label); blank lines and repeats are dropped."""
    out: dict[str, GridColumn] = {}
    for line in text.splitlines():
        line = " ".join(line.split())
        if not line:
            continue
        label, sep, question = line.partition(" | ")
        if not sep:
            label, question = "", line
        question = question.strip()
        if question and question.lower() not in out:
            out[question.lower()] = GridColumn(question, label.strip())
    return list(out.values())


def resolve_rows(grid: Grid, documents: Sequence[DocumentInfo]) -> list[DocumentInfo]:
    """The grid's documents as they are now: every document when it chose none; else each
    chosen one by id, or, when it was replaced by a new version, by its name."""
    if not grid.documents:
        return list(documents)
    by_id = {d.id: d for d in documents}
    by_name: dict[str, DocumentInfo] = {}
    for d in documents:  # in the order added: the newest version wins
        by_name[d.name] = d
    out: dict[str, DocumentInfo] = {}
    for row in grid.documents:
        doc = by_id.get(row.doc_id) or by_name.get(row.name)
        if doc is not None:
            out.setdefault(doc.id, doc)
    return list(out.values())


# ---------------------------------------------------------------------------------- one cell
@dataclass(frozen=True)
class CellKit:
    """What answering a cell needs, from the Workspace: a fresh store connection per worker,
    a retriever within one document, the keyword weights and the embedder (or None), the
    shared model and the settings."""

    open_store: Callable[[], ProjectStore]
    retriever_for: Callable[[ProjectStore, str], Retriever]
    models: ModelManager
    settings: Settings
    idf: Idf | None = None
    embed: Embed | None = None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TomesError):
        return str(exc)
    return f"unexpected error ({type(exc).__name__}: {exc})"


def answer_cell(
    kit: CellKit, store: ProjectStore, doc_id: str, name: str, question: str, made_by: str
) -> GridCell:
    """Answer one cell (never raises: a failure is a `failed` cell with the reason)."""
    from engine.qa.perdoc import answer_in_document

    started = time.perf_counter()

    def failed(reason: str) -> GridCell:
        return GridCell(
            doc_id, name, question, CellState.FAILED, "", (), made_by, reason,
            seconds=time.perf_counter() - started,
        )  # fmt: skip

    try:
        if store.document_by_hash(doc_id) is None:
            return failed(f"{name} was removed from the project")
        with kit.models.share(kit.settings) as backend:
            size = backend.count_tokens(question)
            room = backend.context_window // _MAX_QUESTION_SHARE
            if size > room:
                return failed(
                    f"the question is {size} tokens long, more than the model's "
                    f"{backend.context_window}-token window leaves room for; shorten it"
                )
            part = answer_in_document(
                question,
                doc_id,
                name,
                retriever=kit.retriever_for(store, doc_id),
                backend=backend,
                settings=kit.settings,
                idf=kit.idf,
                embed=kit.embed,
            )
    except Exception as exc:  # the cell fails alone; the grid goes on
        return failed(_reason(exc))
    answer = part.answer
    return GridCell(
        doc_id=doc_id,
        document=name,
        question=question,
        state=CellState.of(answer.state),
        answer=answer.text,
        citations=answer.citations,
        made_by=made_by,
        prompt_tokens=part.prompt_tokens,
        completion_tokens=part.completion_tokens,
        seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------------------------- running
@dataclass(frozen=True, slots=True)
class GridProgress:
    """Where a grid run is: `done` of `total` cells are current (reused or computed, failed
    ones included); `computed` of `to_compute` were answered by this run."""

    done: int
    total: int
    computed: int
    to_compute: int
    failed: int
    elapsed_s: float
    cell: GridCell | None = None  # the cell just finished
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def estimate_s(self) -> float | None:
        """Seconds left, from this run's pace (None until a cell is done)."""
        if not self.computed:
            return None
        return self.elapsed_s / self.computed * (self.to_compute - self.computed)

    @property
    def cells_per_min(self) -> float:
        return 60.0 * self.computed / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _plan(
    store: ProjectStore, grid: Grid, rows: Sequence[DocumentInfo], recipe: Recipe
) -> tuple[list[tuple[DocumentInfo, GridColumn]], int]:
    """The cells to compute (question by question, so consecutive prompts share the fixed
    instructions), and how many are already current."""
    stamps = grid_rows.cell_stamps(store, [d.id for d in rows], grid.questions)
    todo: list[tuple[DocumentInfo, GridColumn]] = []
    current = 0
    for column in grid.columns:
        for doc in rows:
            stamp = stamps.get((doc.id, column.question))
            fresh = stamp is not None and stamp[0] == recipe.made_by(doc.id, column.question)
            if fresh and stamp is not None and stamp[1] is not CellState.FAILED:
                current += 1
            else:
                todo.append((doc, column))
    return todo, current


def run_grid(
    grid: Grid,
    rows: Sequence[DocumentInfo],
    *,
    store: ProjectStore,
    kit: CellKit,
    recipe: Recipe,
    concurrency: int = 1,
    cancel: threading.Event | None = None,
) -> Iterator[GridProgress]:
    """Compute the grid's missing, out-of-date and failed cells, writing each as it finishes;
    yields progress after each. `concurrency` > 1 runs that many cells at once when the
    backend serves concurrent requests (else one by one). Cancelling stops starting cells;
    those in flight finish and are kept; then `Cancelled` is raised."""
    cancel = cancel or threading.Event()
    grid_rows.prune_orphans(store)
    todo, current = _plan(store, grid, rows, recipe)
    total = len(grid.columns) * len(rows)
    started = time.perf_counter()
    computed = failed = prompt = completion = 0

    def progress(cell: GridCell | None) -> GridProgress:
        return GridProgress(
            current + computed, total, computed, len(todo), failed,
            time.perf_counter() - started, cell, prompt, completion,
        )  # fmt: skip

    yield progress(None)
    if not todo:
        return
    lanes = max(1, concurrency)
    if lanes > 1 and not kit.models.concurrent(kit.settings):
        lanes = 1  # an in-process model answers one prompt at a time
    for cell in _cells(todo, store=store, kit=kit, recipe=recipe, lanes=lanes, cancel=cancel):
        grid_rows.write_cell(store, cell)
        computed += 1
        failed += cell.state is CellState.FAILED
        prompt += cell.prompt_tokens
        completion += cell.completion_tokens
        yield progress(cell)
    if computed < len(todo):
        raise Cancelled(
            f"stopped with {current + computed} of {total} cells done; run the grid again to "
            "finish it (finished cells are kept)"
        )


def _cells(
    todo: Sequence[tuple[DocumentInfo, GridColumn]],
    *,
    store: ProjectStore,
    kit: CellKit,
    recipe: Recipe,
    lanes: int,
    cancel: threading.Event,
) -> Iterator[GridCell]:
    """The cells of `todo` as they finish (in order with one lane; as they come with more)."""
    if lanes == 1:
        for doc, column in todo:
            if cancel.is_set():
                return
            made_by = recipe.made_by(doc.id, column.question)
            yield answer_cell(kit, store, doc.id, doc.name, column.question, made_by)
        return
    local = threading.local()
    opened: list[ProjectStore] = []
    opened_lock = threading.Lock()

    def work(doc: DocumentInfo, column: GridColumn) -> GridCell:
        own = getattr(local, "store", None)
        if own is None:  # sqlite connections are per thread: one per worker
            own = local.store = kit.open_store()
            with opened_lock:
                opened.append(own)
        made_by = recipe.made_by(doc.id, column.question)
        return answer_cell(kit, own, doc.id, doc.name, column.question, made_by)

    pending = iter(todo)
    in_flight: set[Future[GridCell]] = set()
    pool = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="tomes-grid")
    try:
        while True:
            while not cancel.is_set() and len(in_flight) < lanes:
                nxt = next(pending, None)
                if nxt is None:
                    break
                in_flight.add(pool.submit(work, *nxt))
            if not in_flight:
                return
            finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()  # answer_cell never raises
    finally:
        for future in in_flight:
            future.cancel()
        pool.shutdown(wait=True)
        for own in opened:
            own.close()


# ---------------------------------------------------------------------------------- reading
@dataclass(frozen=True, slots=True)
class GridPageRow:
    """One document's row: its cells and the reviewer's marks, in column order."""

    doc_id: str
    document: str
    cells: tuple[GridCell, ...]
    reviews: tuple[CellReview, ...]


@dataclass(frozen=True, slots=True)
class GridPage:
    """A page of a grid's rows (the UI shows grids of thousands of cells a page at a time),
    with counts over the whole grid."""

    grid: Grid
    rows: tuple[GridPageRow, ...]
    offset: int
    total_rows: int
    counts: dict[str, int]  # CellState value -> cells, over the whole grid

    @property
    def total_cells(self) -> int:
        return self.total_rows * len(self.grid.columns)

    @property
    def done(self) -> int:
        return self.total_cells - self.counts.get(CellState.PENDING.value, 0)


def grid_status(
    store: ProjectStore, grid: Grid, rows: Sequence[DocumentInfo], recipe: Recipe
) -> dict[str, int]:
    """How many cells of the grid are in each state (out-of-date cells count as pending)."""
    stamps = grid_rows.cell_stamps(store, [d.id for d in rows], grid.questions)
    counts = dict.fromkeys((s.value for s in CellState), 0)
    for doc in rows:
        for question in grid.questions:
            stamp = stamps.get((doc.id, question))
            if stamp is None or stamp[0] != recipe.made_by(doc.id, question):
                counts[CellState.PENDING.value] += 1
            else:
                counts[stamp[1].value] += 1
    return counts


def grid_page(
    store: ProjectStore,
    grid: Grid,
    rows: Sequence[DocumentInfo],
    recipe: Recipe,
    *,
    offset: int = 0,
    limit: int | None = None,
) -> GridPage:
    """Rows `offset` … `offset + limit` of the grid with their cells and reviews (a cell not
    computed yet is pending; one made with other settings is shown with `current` False)."""
    offset = max(0, min(offset, max(0, len(rows) - 1)))
    page = list(rows[offset : offset + limit] if limit is not None else rows[offset:])
    ids = [d.id for d in page]
    stored = grid_rows.cells(store, ids, grid.questions)
    marks = grid_rows.reviews(store, grid.id, ids)
    out = []
    for doc in page:
        cells = []
        for question in grid.questions:
            cell = stored.get((doc.id, question))
            if cell is None:
                cell = GridCell(doc.id, doc.name, question, CellState.PENDING)
            else:
                cell = dataclasses.replace(
                    cell,
                    document=doc.name,
                    current=cell.made_by == recipe.made_by(doc.id, question),
                )
            cells.append(cell)
        reviews = tuple(marks.get((doc.id, q), CellReview()) for q in grid.questions)
        out.append(GridPageRow(doc.id, doc.name, tuple(cells), reviews))
    counts = grid_status(store, grid, rows, recipe)
    return GridPage(grid, tuple(out), offset, len(rows), counts)
