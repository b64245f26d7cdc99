"""Everything a user does with Tomes, as engine calls: the CLI and the UI are thin shells over
a `Workspace`. One per process: it owns the loaded model, the embedder and the background
indexer."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from engine.errors import AnswerPending, BackendUnavailable, StoreError, TomesError
from engine.index.indexer import BackgroundIndexer, IndexProgress, JobState, Phase
from engine.index.lexical import LexicalIndex
from engine.index.tree.build import TreeStatus, build_tree, tree_notice, tree_status
from engine.index.tree.plan import plan_tree
from engine.index.tree.read import TreeReader
from engine.index.tree.summarize import ExtractiveSummarizer, ModelSummarizer
from engine.intake import FileEvent, FileStatus, ingest_paths
from engine.llm.backends import model_identity
from engine.llm.models import ModelManager
from engine.ocr import OcrProgress
from engine.qa.answer import AnswerStream, AskScope, ask
from engine.qa.retrieve import HybridRetriever, Modes
from engine.qa.scope import DocIdentity, identify, resolve_scope
from engine.review.export import GridSection, ReportFormat, collect, write_report
from engine.review.grid import (
    CellKit,
    GridPage,
    GridProgress,
    Recipe,
    grid_page,
    resolve_rows,
    run_grid,
)
from engine.review.gridjobs import GridJob, GridJobs
from engine.review.presets import Preset, delete_preset, find_preset, list_presets, save_preset
from engine.review.viewer import SourceView, open_source
from engine.settings import Settings, SettingValue
from engine.store import ProjectStore, documents, pending, vectors
from engine.store import grids as grid_store
from engine.store import ocr as ocr_store
from engine.store.chats import ChatLog
from engine.store.nodes import NodeKey
from engine.store.private import private_dir, private_file
from engine.store.projects import Project, Projects
from engine.types import (
    Answer,
    CellReview,
    Citation,
    ContextItem,
    DocumentInfo,
    Grid,
    GridColumn,
    GridRow,
    ItemKind,
    OcrSummary,
    SummaryNode,
)
from ingest.types import Locator

if TYPE_CHECKING:
    from engine.index.embed import Embedder
    from engine.index.embed.vector_index import VectorIndex

__all__ = ["GridFormat", "IndexStatus", "Workspace"]

log = logging.getLogger(__name__)

#: What a review grid exports to.
GridFormat = Literal["xlsx", "csv", "docx", "md"]
_UNSET = object()


def _inside(path: Path, root: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(root).resolve())
    except OSError:
        return False


def _cl100k_count(text: str) -> int:
    from ingest.tokens import cl100k

    return cl100k().count(text)


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """How far a project's derived indexes are (embeddings, summary tree)."""

    embedded: int
    to_embed: int
    tree: TreeStatus

    @property
    def complete(self) -> bool:
        return self.to_embed == 0 and (self.tree.complete or self.tree.total == 0)

    def notice(self) -> str | None:
        """What an answer should tell the user while indexes are incomplete."""
        return tree_notice(self.tree)


class _Dense:
    """DenseSearch over a project's stored vectors."""

    def __init__(
        self, embedder: Embedder, index: VectorIndex, lock: threading.Lock, store: ProjectStore
    ) -> None:
        self.embedder = embedder
        self.index = index  # shared by every request of the project: loaded once
        self.lock = lock
        self.store = store

    def search(
        self, question: str, *, k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[ItemKind, str, float]]:
        from engine.index.embed import embed_query

        query = embed_query(self.embedder, question)
        with self.lock:  # the index reads through this request's store while it searches
            self.index.use(self.store)
            return list(self.index.search(query, k=k, doc_ids=doc_ids))


class Workspace:
    """Projects, ingest, indexing, questions, chats, notes, viewer and export."""

    def __init__(
        self, settings: Settings | None = None, *, models: ModelManager | None = None
    ) -> None:
        self.settings = settings or Settings.load()
        self.models = models or ModelManager()
        self.projects = Projects(self.settings.home)
        # Answers kept because their project was busy: saved again in the background.
        self._kept: set[Path] = set()
        self._kept_lock = threading.Lock()
        self._saver: threading.Thread | None = None
        self._closing = threading.Event()
        self.indexer = BackgroundIndexer(self._index_steps)
        self._embedder: Embedder | None = None  # the last one asked for (status lines)
        self._embedders: dict[str, Embedder] = {}  # by settings.retrieval.embedder
        self._embedder_errors: dict[str, str] = {}
        self.grid_jobs = GridJobs(self._grid_steps)
        self._embedder_lock = threading.Lock()
        self._embedder_error: str | None = None
        self._indexes: dict[tuple[Path, str], tuple[VectorIndex, threading.Lock]] = {}
        self._lexical: dict[Path, LexicalIndex] = {}
        self._identity_cache: dict[Path, tuple[tuple[int, int, int], list[DocIdentity]]] = {}
        # per project database: (chunk stamp, fanout) -> the planned tree's node keys
        self._plans: dict[Path, tuple[tuple[tuple[int, int, int], int], tuple[NodeKey, ...]]] = {}

    def close(self) -> None:
        self._closing.set()
        self.grid_jobs.shutdown()
        self.indexer.shutdown()
        self._save_kept(final=True)
        self.models.close()

    # ------------------------------------------------------------------ settings
    def settings_for(
        self, project: Project, overrides: Mapping[str, SettingValue] | None = None
    ) -> Settings:
        """Workspace settings with the project's saved overrides and then `overrides` applied."""
        with project.open() as store:
            saved = store.project_settings()
        settings = self.settings.with_overrides(saved) if saved else self.settings
        return settings.with_overrides(overrides) if overrides else settings

    def save_project_settings(
        self, project: Project, values: Mapping[str, SettingValue]
    ) -> Settings:
        """Validate and store per-project overrides (None removes an override)."""
        merged = self.settings_for(project, {k: v for k, v in values.items() if v is not None})
        checked = merged.to_dict()
        with project.open() as store:
            store.save_project_settings(
                {k: None if v is None else checked[k] for k, v in values.items()}
            )
        return merged

    # ------------------------------------------------------------------ projects
    def project(self, name: str, *, create: bool = False) -> Project:
        """The project called `name` (created first with `create`)."""
        return self.projects.get_or_create(name) if create else self.projects.get(name)

    def list_projects(self) -> list[Project]:
        return self.projects.list()

    def create_project(self, name: str) -> Project:
        return self.projects.create(name)

    def rename_project(self, project: Project, new_name: str) -> Project:
        return self.projects.rename(project.name, new_name)

    def delete_project(self, project: Project) -> None:
        """Stop its background indexing, then delete the project folder (the user's original
        files are not touched)."""
        self.indexer.cancel(project, wait=10.0)
        self.grid_jobs.cancel_project(project, wait=10.0)
        self.projects.delete(project.name)

    def stats(self, project: Project) -> dict[str, int]:
        """How many documents, chunks and tokens the project holds."""
        with project.open() as store:
            return store.stats()

    def documents(self, project: Project) -> list[DocumentInfo]:
        with project.open() as store:
            return store.documents()

    def document(self, project: Project, doc_id: str) -> DocumentInfo:
        with project.open() as store:
            return store.document(doc_id)

    @contextlib.contextmanager
    def chats(self, project: Project) -> Iterator[ChatLog]:
        """The project's chat sessions and notes, open for the `with` block."""
        with project.open() as store:
            if pending.has_pending(project.folder):
                with contextlib.suppress(sqlite3.OperationalError, TomesError):
                    pending.flush(store)  # answers kept while the project was busy
            yield ChatLog(store)

    # ------------------------------------------------------------------ ingest
    def ingest(
        self,
        project: Project,
        paths: Sequence[Path],
        *,
        cancel: threading.Event | None = None,
        background_index: bool = True,
    ) -> Generator[FileEvent, None, None]:
        """Ingest files (see `engine.intake`); afterwards, index in the background (also when
        the caller closes this generator early)."""
        settings = self.settings_for(project)
        changed = False
        try:
            with project.writing(), project.open() as store:
                for event in ingest_paths(store, paths, settings, cancel=cancel):
                    changed = changed or event.status in (FileStatus.ADDED, FileStatus.REPLACED)
                    yield event
        finally:
            # also when the caller stops early: index what was added
            if changed and background_index:
                self.indexer.start(project)

    def remove_document(self, project: Project, doc_id: str) -> DocumentInfo:
        """Remove a document and everything derived from it; summaries that spanned it are
        rebuilt in the background."""
        self.indexer.cancel(project, wait=30.0)  # the indexer must not write for a gone document
        with project.open() as store:
            doc = store.document(doc_id)
            store.remove_document(doc_id)
        self.indexer.start(project)
        return doc

    # ------------------------------------------------------------------ indexing
    def embedder(self, settings: Settings | None = None) -> Embedder | None:
        """The process's embedding model for `settings` (the workspace's by default), loaded
        on first use (None if it cannot load: then `embedder_problem` says why, and dense
        search is off). The ONNX graph is built once into TOMES_HOME/models/embeddings/."""
        settings = settings or self.settings
        choice = settings.retrieval.embedder
        with self._embedder_lock:
            if choice not in self._embedders and choice not in self._embedder_errors:
                try:
                    from engine.index.embed import load_embedder

                    self._embedders[choice] = load_embedder(
                        prefer=choice, cache_dir=settings.models_dir / "embeddings"
                    )
                except (BackendUnavailable, ImportError, OSError) as exc:
                    log.warning("dense search is off: %s", exc)
                    self._embedder_errors[choice] = str(exc)
            self._embedder = self._embedders.get(choice, self._embedder)
            self._embedder_error = self._embedder_errors.get(choice)
            return self._embedders.get(choice)

    def _loaded_embedder(self, settings: Settings) -> Embedder | None:
        """The embedder for `settings` if it is already loaded (status lines never load one)."""
        with self._embedder_lock:
            return self._embedders.get(settings.retrieval.embedder)

    def pending_embeddings(self, project: Project) -> int:
        """How many chunks and summary nodes of the project lack a vector (0 when dense
        retrieval is off or its model cannot be loaded)."""
        settings = self.settings_for(project)
        if not settings.retrieval.embeddings:
            return 0
        embedder = self.embedder(settings)
        if embedder is None:
            return 0
        from engine.index.embed import vector_model
        from engine.index.embed.pending import pending

        with project.open() as store:
            return pending(store, vector_model(embedder.model_id, settings.retrieval.dense_unit))

    def build_embeddings(
        self, project: Project, *, cancel: threading.Event | None = None
    ) -> Iterator[IndexProgress]:
        """Embed every chunk (and summary node) of the project that lacks a vector; a no-op
        when dense retrieval is off or nothing is pending. `tomes ingest` runs it so the first
        question already has dense search; resumable and cancellable like `index`."""
        settings = self.settings_for(project)
        if not settings.retrieval.embeddings:
            return
        embedder = self.embedder(settings)
        if embedder is None:
            return
        from engine.index.embed.pending import embed_pending

        # A long write, like ingest and indexing: hold the project's lock so a delete waits.
        with project.writing(), project.open() as store:
            for done, total in embed_pending(
                store, embedder, unit=settings.retrieval.dense_unit, cancel=cancel
            ):
                yield IndexProgress(Phase.EMBEDDINGS, done, total)

    @property
    def embedder_problem(self) -> str | None:
        """Why the embedding model could not be loaded (so answers use keyword search and
        the summary tree only), or None. The CLI and the status line show it."""
        with self._embedder_lock:
            if self._embedder_error is None:
                return None
            return (
                f"Dense (meaning-based) search is off: {self._embedder_error.rstrip('.')}. "
                "Keyword search and the summary tree still work."
            )

    def lexical(self, folder: Path) -> LexicalIndex:
        """The keyword index of the project in `folder` (one object per project, shared by
        requests, so its posting lists are mapped once)."""
        key = folder.resolve()
        with self._embedder_lock:
            if key not in self._lexical:
                self._lexical[key] = LexicalIndex(folder)
            return self._lexical[key]

    def summarizer(self, settings: Settings) -> ModelSummarizer:
        return ModelSummarizer(settings, self.models, model_identity(settings))

    def index(
        self, project: Project, *, cancel: threading.Event | None = None, tree: bool = True
    ) -> Iterator[IndexProgress]:
        """Embed what is new, then build or extend the summary tree (resumable)."""
        cancel = cancel or threading.Event()
        yield from self._index_steps(project, cancel, tree=tree)

    def build_keywords(
        self, project: Project, *, cancel: threading.Event | None = None
    ) -> Iterator[IndexProgress]:
        """Bring the project's keyword (BM25) index up to date; a no-op when it is current.

        Seconds even for thousands of chunks, and it ranks far better than the FTS5
        fallback (which stems "governing" and "government" alike), so ingest runs it."""
        with project.open() as store:
            yield from self._keyword_steps(store, cancel or threading.Event())

    def _keyword_steps(
        self, store: ProjectStore, cancel: threading.Event
    ) -> Iterator[IndexProgress]:
        lexical = self.lexical(store.path.parent)
        if not lexical.is_current(store):
            for done, total in lexical.build(store, cancel=cancel):
                yield IndexProgress(Phase.KEYWORDS, done, total)

    def read_scans(
        self, project: Project, *, cancel: threading.Event | None = None
    ) -> Iterator[OcrProgress]:
        """Read the project's unread scanned pages with OCR, page by page (resumable). Holds
        the project's writing lock, as ingest and indexing do: deleting it waits."""
        from engine.ocr import read_scanned_pages

        settings = self.settings_for(project)
        with project.writing(), project.open() as store:
            yield from read_scanned_pages(store, settings, cancel=cancel)

    def ocr_summaries(self, project: Project) -> dict[str, OcrSummary]:
        """Per document with scanned pages: how many are read, which are doubtful."""
        with project.open() as store:
            return ocr_store.ocr_summaries(store)

    def doubtful_pages(
        self, project: Project, citations: Sequence[Citation]
    ) -> frozenset[tuple[str, int]]:
        """The (doc_id, page) of cited pages that OCR read with low confidence."""
        wanted = {(c.doc_id, c.locator.page) for c in citations if c.doc_id and c.locator.page}
        if not wanted:
            return frozenset()
        with project.open() as store:
            statuses = ocr_store.page_statuses(store, [d for d, _ in wanted])
        return frozenset(
            key for key in wanted if statuses.get(key) in ("low_confidence", "unreadable")
        )

    def _ocr_steps(
        self, store: ProjectStore, settings: Settings, cancel: threading.Event
    ) -> Iterator[IndexProgress]:
        from engine.ocr import read_scanned_pages
        from ingest.ocr import OcrUnavailable

        try:
            for step in read_scanned_pages(store, settings, cancel=cancel):
                yield IndexProgress(Phase.OCR, step.done, step.total)
        except OcrUnavailable as exc:
            # Without OCR the rest of the index is still worth building; say why it is missing.
            log.warning("scanned pages not read: %s", exc)

    def _index_steps(
        self, project: Project, cancel: threading.Event, *, tree: bool | None = None
    ) -> Iterator[IndexProgress]:
        settings = self.settings_for(project)
        if tree is None:  # background runs follow the setting; `tomes index` always builds
            tree = settings.memory.auto_build
        with project.writing(), project.open() as store:
            if settings.ocr.enabled:  # scanned pages first: until read, they cannot be found
                yield from self._ocr_steps(store, settings, cancel)
            yield from self._keyword_steps(store, cancel)  # seconds; improves every answer
            if settings.retrieval.embeddings:
                embedder = self.embedder(settings)
                if embedder is not None:
                    from engine.index.embed.pending import embed_pending

                    for done, total in embed_pending(
                        store, embedder, unit=settings.retrieval.dense_unit, cancel=cancel
                    ):
                        yield IndexProgress(Phase.EMBEDDINGS, done, total)
            if tree:
                summarizer = self.summarizer(settings)
                for p in build_tree(
                    store, summarizer, fanout=settings.memory.fanout, cancel=cancel
                ):
                    yield IndexProgress(Phase.TREE, p.done, p.total)
            # the tree's new nodes need vectors too
            embedder = self._loaded_embedder(settings)
            if settings.retrieval.embeddings and embedder is not None:
                from engine.index.embed.pending import embed_pending

                for done, total in embed_pending(
                    store, embedder, unit=settings.retrieval.dense_unit, cancel=cancel
                ):
                    yield IndexProgress(Phase.EMBEDDINGS, done, total)

    def index_status(self, project: Project) -> IndexStatus:
        settings = self.settings_for(project)
        with project.open() as store:
            status = self._tree_progress(store, settings)
            embedded = to_embed = 0
            embedder = self._loaded_embedder(settings)
            if embedder is not None:
                from engine.index.embed import vector_model
                from engine.index.embed.pending import pending

                model = vector_model(embedder.model_id, settings.retrieval.dense_unit)
                to_embed = pending(store, model)
                embedded = vectors.count_vectors(store, model)
        return IndexStatus(embedded, to_embed, status)

    def _tree_progress(self, store: ProjectStore, settings: Settings) -> TreeStatus:
        """How much of the planned tree exists. Cheap enough to run for every question: the
        plan is computed once per set of chunks (it changes only when documents do) and no
        node text is read."""
        made_by = [ExtractiveSummarizer(settings).made_by(1)]
        with contextlib.suppress(TomesError):  # no model file: status still works
            made_by.append(self.summarizer(settings).made_by(2))
        fanout = settings.memory.fanout
        key = (documents.chunk_stamp(store), fanout)
        where = store.path.resolve()
        with self._embedder_lock:
            cached = self._plans.get(where)
        if cached is None or cached[0] != key:
            cached = (key, tuple(n.key for n in plan_tree(store, fanout=fanout)))
            with self._embedder_lock:
                self._plans[where] = cached
        return tree_status(store, fanout=fanout, made_by=made_by, plan=cached[1])

    def job(self, project: Project) -> JobState:
        return self.indexer.state(project)

    # ------------------------------------------------------------------ questions
    def retriever(
        self,
        store: ProjectStore,
        settings: Settings,
        *,
        notices: Sequence[str] = (),
        scope: Sequence[str] | None = None,
    ) -> HybridRetriever:
        dense = None
        # Loaded on a process's first question (~0.3 s once its graph is cached): a `tomes ask`
        # right after `tomes ingest` searches the vectors ingest wrote.
        embedder = self.embedder(settings) if settings.retrieval.embeddings else None
        if embedder is not None:
            from engine.index.embed import vector_model
            from engine.index.embed.vector_index import VectorIndex

            model = vector_model(embedder.model_id, settings.retrieval.dense_unit)
            key = (store.path.resolve(), model)
            with self._embedder_lock:
                if key not in self._indexes:
                    index = VectorIndex(store, model)
                    self._indexes[key] = (index, threading.Lock())
                index, lock = self._indexes[key]
            dense = _Dense(embedder, index, lock, store)
        return HybridRetriever(
            store,
            lexical=self.lexical(store.path.parent),
            dense=dense,
            modes=Modes(dense=dense is not None),
            candidates=settings.retrieval.candidates,
            rrf_k=settings.retrieval.rrf_k,
            fusion=settings.retrieval.fusion,
            notices=notices,
            scope=scope,
        )

    def ask(
        self,
        project: Project,
        question: str,
        *,
        session_id: int | None = None,
        overrides: Mapping[str, SettingValue] | None = None,
        documents: Sequence[str] | None = None,
    ) -> AnswerStream:
        """Start answering. The returned stream keeps the project open until `.result()`
        (or `.close()`); follow-ups in `session_id` reuse the earlier turns' context.

        The question is answered within `documents` (ids; None: the chat's chosen documents,
        or all), and within the documents it names, if it names some ("the Biopure
        agreement", "store.py")."""
        settings = self.settings_for(project, overrides)
        store = project.open()
        try:
            chats = ChatLog(store)
            history: list[Answer] = chats.answers(session_id) if session_id else []
            if documents is None and session_id:
                documents = chats.session(session_id).scope
            notices = [n for n in (tree_notice(self._tree_progress(store, settings)),) if n]
            scope = self._ask_scope(store, settings, question, documents or (), notices)
            stream = ask(
                question,
                scope=scope,
                models=self.models,
                settings=settings,
                history=history,
            )
        except BaseException:
            store.close()
            raise
        stream.on_finish(store.close)
        return stream

    def _identities(self, store: ProjectStore) -> list[DocIdentity]:
        """How each document can be named (title and parties at its opening), computed once
        per set of chunks."""
        key = documents.chunk_stamp(store)
        where = store.path.resolve()
        with self._embedder_lock:
            cached = self._identity_cache.get(where)
        if cached is not None and cached[0] == key:
            return cached[1]
        found = [identify(*row) for row in documents.openings(store)]
        with self._embedder_lock:
            self._identity_cache[where] = (key, found)
        return found

    def _ask_scope(
        self,
        store: ProjectStore,
        settings: Settings,
        question: str,
        chosen: Sequence[str],
        notices: list[str],
    ) -> AskScope:
        names = documents.document_names(store)
        picked = [d for d in chosen if d in names]
        lexical = self.lexical(store.path.parent)
        current = lexical.is_current(store)
        identities = self._identities(store)
        pool = [i for i in identities if not picked or i.doc_id in picked]
        match = resolve_scope(question, pool, doc_freq=lexical.doc_frequency if current else None)
        doc_ids: tuple[str, ...] | None = match.doc_ids or (tuple(picked) if picked else None)
        if match:
            named = ", ".join(names[d] for d in match.doc_ids[:3])
            more = f" and {len(match.doc_ids) - 3} more" if len(match.doc_ids) > 3 else ""
            notices.append(f"Answered from {named}{more} only: the question names it.")
        embed = None
        if settings.retrieval.embeddings and settings.retrieval.evidence_meaning:
            embedder = self.embedder()  # loaded on a process's first question (~0.5 s)
            embed = embedder.embed if embedder is not None else None

        def retriever_for(ids: Sequence[str] | None) -> HybridRetriever:
            return self.retriever(store, settings, notices=notices, scope=ids)

        return AskScope(
            retriever_for=retriever_for,
            doc_ids=doc_ids,
            names=names,
            reasons=match.reasons,
            idf=lexical.idf if current else None,
            embed=embed,
            notices=tuple(notices),
            code_docs=frozenset(i.doc_id for i in identities if i.kind == "code"),
        )

    def resolve_documents(self, project: Project, wanted: Sequence[str]) -> list[DocumentInfo]:
        """The documents `wanted` names (`--document NAME`): by exact name, by base name, or
        by a part of the name that only one document has. An unknown or ambiguous name is an
        error that lists what matched."""
        docs = self.documents(project)
        out: list[DocumentInfo] = []
        for name in wanted:
            needle = name.strip().lower()
            exact = [d for d in docs if d.name.lower() == needle or d.id == name]
            base = [d for d in docs if d.name.rsplit("/", 1)[-1].lower() == needle]
            part = [d for d in docs if needle and needle in d.name.lower()]
            found = exact or base or part
            if not found:
                known = ", ".join(d.name for d in docs[:8]) + ("…" if len(docs) > 8 else "")
                raise TomesError(
                    f"no document matches {name!r} in project {project.name!r} "
                    f"(documents: {known or 'none yet'})"
                )
            if len(found) > 1:
                shown = "; ".join(d.name for d in found[:5])
                raise TomesError(
                    f"{name!r} matches {len(found)} documents ({shown}); give more of the name"
                )
            out.append(found[0])
        return list({d.id: d for d in out}.values())

    def retrieve(
        self,
        project: Project,
        question: str,
        *,
        overrides: Mapping[str, SettingValue] | None = None,
        documents: Sequence[str] | None = None,
    ) -> tuple[list[ContextItem], float]:
        """The context a question would get, without running the model (`--retrieve-only`),
        within `documents` (ids; None: all); budgets are measured with the stored cl100k
        counts. Returns (items, seconds)."""
        settings = self.settings_for(project, overrides)
        with project.open() as store:
            t0 = time.perf_counter()
            retriever = self.retriever(store, settings, scope=documents)
            found = retriever(
                question, budget=settings.retrieval.budget, count=_cl100k_count, exclude=frozenset()
            )
            return list(found.items), time.perf_counter() - t0

    def record(
        self, project: Project, session_id: int, answer: Answer, *, wait_s: float = 10.0
    ) -> tuple[int, int]:
        """Save a finished exchange to its chat session; returns (question id, answer id).

        An answer is never lost because the database is busy: when another process keeps it
        locked for more than `wait_s` seconds, the exchange is kept on disk and saved in the
        background as soon as the project is free, and AnswerPending says so."""
        try:
            return pending.record_or_keep(
                project.folder, project.db_path, session_id, answer, wait_s=wait_s
            )
        except AnswerPending:
            with self._kept_lock:
                self._kept.add(project.folder)
                if self._saver is None:
                    self._saver = threading.Thread(
                        target=self._save_kept_loop, name="tomes-save-kept", daemon=True
                    )
                    self._saver.start()
            raise

    def _save_kept_loop(self) -> None:
        while not self._closing.wait(1.0):
            self._save_kept(final=False)
            with self._kept_lock:  # decided under the lock: record() starts a new saver
                if not self._kept:
                    self._saver = None
                    return

    def _save_kept(self, *, final: bool) -> bool:
        """Try to save kept answers; returns whether some are still waiting. On `final`
        (closing), wait a little longer, then say where the rest are kept."""
        with self._kept_lock:
            folders = list(self._kept)
        left = False
        for folder in folders:
            try:
                pending.flush_project(folder / "project.db", wait_s=5.0 if final else 0.5)
                with self._kept_lock:
                    self._kept.discard(folder)
            except (sqlite3.OperationalError, TomesError) as exc:
                left = True
                if final:
                    log.warning(
                        "answers could not be saved yet (%s); they are kept in %s and saved "
                        "the next time this project's chats are opened",
                        exc,
                        folder / pending.PENDING_DIR,
                    )
        return left

    # ------------------------------------------------------------------ reading and export
    def tree_roots(self, project: Project) -> list[tuple[str, SummaryNode]]:
        """Where the summary tree can be read from, with a label: the whole corpus ("All
        documents"), then each document's root."""
        with project.open() as store:
            tree = TreeReader(store)
            out: list[tuple[str, SummaryNode]] = []
            corpus = tree.corpus_root()
            if corpus is not None and not corpus.doc_id:
                out.append(("All documents", corpus))
            names = {d.id: d.name for d in store.documents()}
            return out + [(names.get(n.doc_id, "document"), n) for n in tree.roots()]

    def tree_node(
        self, project: Project, node_id: int
    ) -> tuple[SummaryNode, str, list[SummaryNode]]:
        """A summary-tree node, the name of its document ("All documents" for corpus nodes)
        and its child nodes."""
        with project.open() as store:
            tree = TreeReader(store)
            try:
                node = tree.node(node_id)
            except KeyError:
                raise StoreError(
                    f"summary {node_id} is gone (the tree was rebuilt); choose it again"
                ) from None
            document = store.document(node.doc_id).name if node.doc_id else "All documents"
            return node, document, tree.children(node)

    def open_source(
        self,
        project: Project,
        doc_id: str,
        locator: Locator,
        *,
        quote: str = "",
        page: int | None = None,
    ) -> SourceView:
        """What the source viewer shows for a citation (see `engine.review.viewer`)."""
        with project.open() as store:
            return open_source(store, doc_id, locator, quote=quote, page=page)

    def export_report(
        self,
        project: Project,
        target: Path,
        *,
        fmt: ReportFormat,
        message_ids: Sequence[int] = (),
        note_ids: Sequence[int] | None = None,
        grid_ids: Sequence[int] = (),
    ) -> tuple[Path, int]:
        """Write a report of the chosen answers and notes (None: every note) and review grids
        to `target`; returns the written path and the number of sections."""
        with project.open() as store:
            notes = list(note_ids) if note_ids is not None else None
            items = collect(ChatLog(store), message_ids=list(message_ids), note_ids=notes)
        grids = []
        for grid_id in grid_ids:
            page = self.grid_page(project, grid_id)
            grids.append(GridSection(page.grid.name, page))
        if _inside(target, self.settings.home):
            private_dir(Path(target).parent)
        written = write_report(project.name, items, target, fmt, grids=grids)
        if _inside(written, self.settings.home):
            private_file(written)  # an export under TOMES_HOME is the user's alone
        return written, len(items) + len(grids)

    # ------------------------------------------------------------------ review grids
    def presets(self) -> list[Preset]:
        """The question presets: the shipped ones ("Contract review"), then the user's."""
        return list_presets(self.settings.home)

    def preset(self, name: str) -> Preset:
        return find_preset(self.settings.home, name)

    def save_preset(self, name: str, columns: Sequence[GridColumn]) -> Preset:
        """Save the user's own preset (under TOMES_HOME: usable in every project)."""
        return save_preset(self.settings.home, name, columns)

    def delete_preset(self, name: str) -> None:
        delete_preset(self.settings.home, name)

    def grids(self, project: Project) -> list[Grid]:
        """The project's saved grids, most recently changed first."""
        with project.open() as store:
            return grid_store.grids(store)

    def grid(self, project: Project, grid_id: int) -> Grid:
        with project.open() as store:
            return grid_store.grid(store, int(grid_id))

    def save_grid(
        self,
        project: Project,
        name: str,
        columns: Sequence[GridColumn],
        documents: Sequence[str] = (),
        *,
        grid_id: int | None = None,
    ) -> Grid:
        """Create a grid (or change grid `grid_id`): its questions, and the documents (ids;
        empty: every document of the project, also those added later). A name that exists
        already is an error when creating."""
        name = " ".join(name.split())
        if not name:
            raise TomesError("name the grid first")
        first: dict[str, GridColumn] = {}
        for c in columns:  # a question asked twice is one column (its first label)
            if c.question.strip():
                first.setdefault(c.question.lower(), c)
        cols = list(first.values())
        if not cols:
            raise TomesError("a grid needs at least one question: type some, or pick a preset")
        with project.open() as store:
            names = {d.id: d.name for d in store.documents()}
            unknown = [d for d in documents if d not in names]
            if unknown:
                raise TomesError(f"no document {unknown[0]!r} in project {project.name!r}")
            rows = [GridRow(d, names[d]) for d in dict.fromkeys(documents)]
            if grid_id is None:
                return grid_store.create_grid(store, name, cols, rows)
            return grid_store.update_grid(
                store, int(grid_id), name=name, columns=cols, documents=rows
            )

    def put_grid(
        self, project: Project, name: str, columns: Sequence[GridColumn], documents: Sequence[str]
    ) -> Grid:
        """The grid called `name`, created or redefined with these questions and documents
        (what `tomes grid` runs: its cells are reused by the next run with the same ones)."""
        with project.open() as store:
            existing = grid_store.grid_by_name(store, name)
        return self.save_grid(
            project, name, columns, documents, grid_id=existing.id if existing else None
        )

    def delete_grid(self, project: Project, grid_id: int) -> None:
        """Delete a grid and the reviewer's marks on it."""
        self.grid_jobs.cancel(project, grid_id, wait=30.0)
        with project.open() as store:
            grid_store.delete_grid(store, int(grid_id))

    def _recipe(self, settings: Settings) -> Recipe:
        dense = None
        if settings.retrieval.embeddings:
            embedder = self.embedder()
            dense = embedder.model_id if embedder is not None else None
        return Recipe.of(settings, dense=dense)

    def _cell_kit(self, project: Project, store: ProjectStore, settings: Settings) -> CellKit:
        lexical = self.lexical(store.path.parent)
        embed = None
        if settings.retrieval.embeddings and settings.retrieval.evidence_meaning:
            # as in a chat question: a cell ranks evidence by meaning too, so the same cell
            # gets the same answer whichever process (or backend) computes it
            embedder = self.embedder(settings)
            embed = embedder.embed if embedder is not None else None

        def retriever_for(own: ProjectStore, doc_id: str) -> HybridRetriever:
            return self.retriever(own, settings, scope=[doc_id])

        return CellKit(
            open_store=project.open,
            retriever_for=retriever_for,
            models=self.models,
            settings=settings,
            idf=lexical.idf if lexical.is_current(store) else None,
            embed=embed,
        )

    def run_grid(
        self,
        project: Project,
        grid_id: int,
        *,
        concurrency: int = 1,
        cancel: threading.Event | None = None,
        overrides: Mapping[str, SettingValue] | None = None,
    ) -> Iterator[GridProgress]:
        """Compute the grid's missing, out-of-date and failed cells (see `engine.review.grid`),
        in the foreground; progress after each cell. Cancelling keeps every finished cell."""
        cancel = cancel or threading.Event()
        settings = self.settings_for(project, overrides)
        recipe = self._recipe(settings)
        with project.open() as store:
            grid = grid_store.grid(store, int(grid_id))
            for _ in self._keyword_steps(store, cancel):  # seconds; the evidence ranker uses it
                pass
            rows = resolve_rows(grid, store.documents())
            kit = self._cell_kit(project, store, settings)
            yield from run_grid(
                grid, rows, store=store, kit=kit, recipe=recipe, concurrency=concurrency,
                cancel=cancel,
            )  # fmt: skip

    def _grid_steps(
        self, project: Project, grid_id: int, concurrency: int, cancel: threading.Event
    ) -> Iterator[GridProgress]:
        return self.run_grid(project, grid_id, concurrency=concurrency, cancel=cancel)

    def start_grid(self, project: Project, grid_id: int, *, concurrency: int = 1) -> GridJob:
        """Run a grid in the background (the UI): `grid_job` tells how far it is."""
        self.grid(project, grid_id)  # it must exist
        self.grid_jobs.start(project, int(grid_id), concurrency=concurrency)
        return self.grid_jobs.state(project, int(grid_id))

    def grid_job(self, project: Project, grid_id: int) -> GridJob:
        return self.grid_jobs.state(project, int(grid_id))

    def cancel_grid(self, project: Project, grid_id: int, *, wait: float = 0.0) -> None:
        self.grid_jobs.cancel(project, int(grid_id), wait=wait)

    def grid_page(
        self,
        project: Project,
        grid_id: int,
        *,
        offset: int = 0,
        limit: int | None = None,
        overrides: Mapping[str, SettingValue] | None = None,
    ) -> GridPage:
        """Rows `offset` … `offset + limit` of a grid (None: all), with cells and reviews;
        cells made with other settings than the project's now are marked out of date."""
        settings = self.settings_for(project, overrides)
        recipe = self._recipe(settings)
        with project.open() as store:
            grid = grid_store.grid(store, int(grid_id))
            rows = resolve_rows(grid, store.documents())
            return grid_page(store, grid, rows, recipe, offset=offset, limit=limit)

    def review_cell(
        self,
        project: Project,
        grid_id: int,
        doc_id: str,
        question: str,
        *,
        reviewed: bool | None = None,
        edited: str | object | None = _UNSET,
        flagged: bool | None = None,
        comment: str | None = None,
    ) -> CellReview:
        """Change the reviewer's marks on one cell; what is not given stays. `edited` is the
        reviewer's answer (None or the model's own answer: back to the model's); the model's
        answer at the time is kept as `original`."""
        with project.open() as store:
            grid = grid_store.grid(store, int(grid_id))
            if question not in grid.questions:
                raise TomesError(f"the grid {grid.name!r} has no question {question!r}")
            old = grid_store.reviews(store, grid.id, [doc_id]).get((doc_id, question))
            old = old or CellReview()
            model_answer = grid_store.cells(store, [doc_id], [question]).get((doc_id, question))
            answer_now = model_answer.answer if model_answer is not None else ""
            new_edit, original = old.edited, old.original
            if edited is not _UNSET:
                text = " ".join(str(edited).split()) if edited is not None else ""
                if not text or text == answer_now:
                    new_edit, original = None, ""
                else:
                    new_edit = text
                    original = old.original if old.edited is not None else answer_now
            review = CellReview(
                old.reviewed if reviewed is None else bool(reviewed),
                new_edit,
                original,
                old.flagged if flagged is None else bool(flagged),
                old.comment if comment is None else comment.strip(),
            )
            return grid_store.save_review(store, grid.id, doc_id, question, review)

    def export_grid(
        self,
        project: Project,
        grid_id: int,
        target: Path,
        *,
        fmt: GridFormat,
        overrides: Mapping[str, SettingValue] | None = None,
    ) -> Path:
        """Write the whole grid to `target`: xlsx, csv, or a docx / md report."""
        from engine.review.grid_export import write_csv, write_xlsx

        page = self.grid_page(project, grid_id, overrides=overrides)
        if fmt == "xlsx":
            return write_xlsx(page, target)
        if fmt == "csv":
            return write_csv(page, target)
        if fmt in ("docx", "md"):
            return write_report(
                project.name, [], target, fmt, grids=[GridSection(page.grid.name, page)]
            )
        raise TomesError(f"unknown grid export format {fmt!r}; use xlsx, csv, docx or md")
