"""Background indexing after ingest: dense embeddings first (cheap, they help retrieval at
once), then the summary tree. One worker thread per project at most; progress is readable at
any time; cancelling stops between batches/nodes and the next run resumes.

Answers never wait for this: keyword search works as soon as ingest ends, and retrieval uses
whatever embeddings and tree levels exist.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from engine.errors import Cancelled, TomesError
from engine.store.projects import Project

__all__ = ["BackgroundIndexer", "IndexProgress", "JobState", "Phase"]

log = logging.getLogger(__name__)


class Phase(StrEnum):
    """A step of indexing, in the order they run."""

    OCR = "ocr"
    KEYWORDS = "keywords"
    EMBEDDINGS = "embeddings"
    TREE = "tree"

    @property
    def label(self) -> str:
        """What the step does, for progress lines."""
        return _LABELS[self]


_LABELS = {
    Phase.OCR: "Reading scanned pages",
    Phase.KEYWORDS: "Indexing keywords",
    Phase.EMBEDDINGS: "Embedding passages",
    Phase.TREE: "Building the summary tree",
}


@dataclass(frozen=True, slots=True)
class IndexProgress:
    """One step of indexing: `done` of `total` items of `phase`."""

    phase: Phase
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class JobState:
    """What the background job of one project is doing (for the UI's status line)."""

    running: bool = False
    phase: Phase | None = None
    done: int = 0
    total: int = 0
    error: str = ""
    finished_at: float | None = None

    def describe(self) -> str:
        if self.error:
            return f"Indexing stopped: {self.error}"
        if self.running:
            if self.phase is None:
                return "Indexing…"
            return f"{self.phase.label}: {self.done} of {self.total}"
        if self.finished_at:
            return "Index and summary tree are up to date."
        return ""


RunIndex = Callable[[Project, threading.Event], Iterator[IndexProgress]]


class BackgroundIndexer:
    """Runs `run_index(project, cancel)` on a daemon thread per project."""

    def __init__(self, run_index: RunIndex) -> None:
        self._run_index = run_index
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self._cancels: dict[str, threading.Event] = {}
        self._states: dict[str, JobState] = {}
        self._again: set[str] = set()

    def start(self, project: Project) -> None:
        """Start (or, if running, schedule another pass after the current one)."""
        key = str(project.folder)
        with self._lock:
            thread = self._threads.get(key)
            if thread is not None and thread.is_alive():
                self._again.add(key)  # new documents arrived: index again when this pass ends
                return
            cancel = threading.Event()
            self._cancels[key] = cancel
            self._states[key] = JobState(running=True)
            thread = threading.Thread(
                target=self._work,
                args=(project, cancel),
                name=f"tomes-index-{project.folder.name}",
                daemon=True,
            )
            self._threads[key] = thread
            thread.start()

    def _work(self, project: Project, cancel: threading.Event) -> None:
        key = str(project.folder)
        while True:
            try:
                for step in self._run_index(project, cancel):
                    with self._lock:
                        self._states[key] = JobState(True, step.phase, step.done, step.total)
                state = JobState(finished_at=time.time())
            except Cancelled:
                state = JobState(error="cancelled; it resumes the next time indexing starts")
            except TomesError as exc:
                state = JobState(error=str(exc))
            except Exception as exc:  # a bug must not kill silently: record it for the UI
                log.exception("background indexing of %s failed", project.name)
                state = JobState(error=f"unexpected error ({type(exc).__name__}: {exc})")
            with self._lock:
                if key in self._again and not cancel.is_set():
                    self._again.discard(key)
                    self._states[key] = JobState(running=True)
                    continue
                self._states[key] = state
                return

    def state(self, project: Project) -> JobState:
        with self._lock:
            return self._states.get(str(project.folder), JobState())

    def cancel(self, project: Project, *, wait: float = 0.0) -> None:
        key = str(project.folder)
        with self._lock:
            event = self._cancels.get(key)
            thread = self._threads.get(key)
            self._again.discard(key)
        if event is not None:
            event.set()
        if thread is not None and wait:
            thread.join(wait)

    def wait(self, project: Project, timeout: float | None = None) -> JobState:
        thread = self._threads.get(str(project.folder))
        if thread is not None:
            thread.join(timeout)
        return self.state(project)

    def shutdown(self, *, wait: float = 5.0) -> None:
        with self._lock:
            events = list(self._cancels.values())
            threads = list(self._threads.values())
        for e in events:
            e.set()
        deadline = time.monotonic() + wait
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
