"""Review grids running in the background (the UI's Run button): one worker thread per grid,
progress readable at any time, cancel between cells, and the next run resumes where this one
stopped (finished cells are in the project). The pattern of `engine.index.indexer`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from engine.errors import Cancelled, TomesError
from engine.review.grid import GridProgress
from engine.store.projects import Project

__all__ = ["GridJob", "GridJobs"]

log = logging.getLogger(__name__)

RunGrid = Callable[[Project, int, int, threading.Event], Iterator[GridProgress]]


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True, slots=True)
class GridJob:
    """What a grid's background run is doing (for the UI's progress line)."""

    running: bool = False
    done: int = 0
    total: int = 0
    computed: int = 0
    to_compute: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    estimate_s: float | None = None
    error: str = ""
    stopped: bool = False  # cancelled by the user (it resumes on the next run)
    finished_at: float | None = None

    @classmethod
    def of(cls, step: GridProgress, *, running: bool = True) -> GridJob:
        return cls(
            running, step.done, step.total, step.computed, step.to_compute, step.failed,
            step.elapsed_s, step.estimate_s,
        )  # fmt: skip

    def describe(self) -> str:
        """One line: done / total, elapsed, the estimate, failures."""
        if not (self.running or self.finished_at or self.error):
            return ""
        parts = [f"{self.done} of {self.total} cells"]
        if self.running:
            parts.append(f"{_clock(self.elapsed_s)} elapsed")
            if self.estimate_s is not None:
                parts.append(f"about {_clock(self.estimate_s)} left")
        elif self.computed:
            parts.append(f"{self.computed} computed in {_clock(self.elapsed_s)}")
        if self.failed:
            parts.append(f"{self.failed} failed")
        line = " · ".join(parts)
        if self.error:
            return f"{'Stopped' if self.stopped else 'Grid stopped'}: {self.error} ({line})"
        return f"Running: {line}" if self.running else f"Done: {line}"


class GridJobs:
    """Runs `run(project, grid_id, concurrency, cancel)` on a daemon thread per grid."""

    def __init__(self, run: RunGrid) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._threads: dict[tuple[str, int], threading.Thread] = {}
        self._cancels: dict[tuple[str, int], threading.Event] = {}
        self._states: dict[tuple[str, int], GridJob] = {}

    @staticmethod
    def _key(project: Project, grid_id: int) -> tuple[str, int]:
        return (str(project.folder), int(grid_id))

    def start(self, project: Project, grid_id: int, *, concurrency: int = 1) -> bool:
        """Start a run (False when this grid is already running)."""
        key = self._key(project, grid_id)
        with self._lock:
            thread = self._threads.get(key)
            if thread is not None and thread.is_alive():
                return False
            cancel = threading.Event()
            self._cancels[key] = cancel
            self._states[key] = GridJob(running=True)
            thread = threading.Thread(
                target=self._work,
                args=(project, int(grid_id), int(concurrency), cancel),
                name=f"tomes-grid-{project.folder.name}-{grid_id}",
                daemon=True,
            )
            self._threads[key] = thread
            thread.start()
        return True

    def _work(
        self, project: Project, grid_id: int, concurrency: int, cancel: threading.Event
    ) -> None:
        key = self._key(project, grid_id)
        last = GridJob(running=True)
        try:
            for step in self._run(project, grid_id, concurrency, cancel):
                last = GridJob.of(step)
                with self._lock:
                    self._states[key] = last
            state = _finished(last)
        except Cancelled:
            state = _finished(last, error="cancelled; run it again to resume", stopped=True)
        except TomesError as exc:
            state = _finished(last, error=str(exc))
        except Exception as exc:  # a bug must not kill silently: record it for the UI
            log.exception("review grid %s of %s failed", grid_id, project.name)
            state = _finished(last, error=f"unexpected error ({type(exc).__name__}: {exc})")
        with self._lock:
            self._states[key] = state

    def state(self, project: Project, grid_id: int) -> GridJob:
        with self._lock:
            return self._states.get(self._key(project, grid_id), GridJob())

    def running(self, project: Project, grid_id: int) -> bool:
        with self._lock:
            thread = self._threads.get(self._key(project, grid_id))
        return thread is not None and thread.is_alive()

    def cancel(self, project: Project, grid_id: int, *, wait: float = 0.0) -> None:
        key = self._key(project, grid_id)
        with self._lock:
            event = self._cancels.get(key)
            thread = self._threads.get(key)
        if event is not None:
            event.set()
        if thread is not None and wait:
            thread.join(wait)

    def cancel_project(self, project: Project, *, wait: float = 0.0) -> None:
        """Stop every grid of a project (before it is deleted)."""
        with self._lock:
            keys = [k for k in self._threads if k[0] == str(project.folder)]
        for _, grid_id in keys:
            self.cancel(project, grid_id, wait=wait)

    def wait(self, project: Project, grid_id: int, timeout: float | None = None) -> GridJob:
        with self._lock:
            thread = self._threads.get(self._key(project, grid_id))
        if thread is not None:
            thread.join(timeout)
        return self.state(project, grid_id)

    def shutdown(self, *, wait: float = 5.0) -> None:
        with self._lock:
            events = list(self._cancels.values())
            threads = list(self._threads.values())
        for e in events:
            e.set()
        deadline = time.monotonic() + wait
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))


def _finished(last: GridJob, *, error: str = "", stopped: bool = False) -> GridJob:
    return GridJob(
        False, last.done, last.total, last.computed, last.to_compute, last.failed,
        last.elapsed_s, None, error, stopped, time.time(),
    )  # fmt: skip
