"""The process's one loaded model, shared by answers, the summary-tree builder and review grids.

A `Llama` must not be used from two threads at once, so every use goes through `ModelManager`'s
lock. Interactive questions take priority over background work: a background job waits while
any question is waiting.

A backend that is a client of a model server (`concurrent = True`: the OpenAI-compatible one)
is different: the server schedules requests itself (vLLM's continuous batching, llama.cpp's
`--parallel` slots), and serializing them here would make a fan-out of 16 requests as slow as
one. So `ModelManager.share()` lets many jobs hold such a backend at once (a shared hold:
nobody may reload or close it meanwhile), while an in-process model still gets the one
exclusive hold. Exclusive holders (a question, a reload) go before new shared holds, so a chat
question waits only for the requests already in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from engine.llm.backends import Backend, create_backend
from engine.settings import Settings

__all__ = ["ModelManager", "PriorityLock"]


class PriorityLock:
    """A mutex where high-priority acquirers go before low-priority ones, which can also be
    held shared (by many at once) when what it guards allows that. An exclusive acquirer waits
    for the shared holders to leave, and new shared holds wait while one is waiting."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._shared = 0
        self._high_waiting = 0
        self._exclusive_waiting = 0

    def acquire(self, *, high: bool = True, timeout: float | None = None) -> bool:
        with self._cond:
            if high:
                self._high_waiting += 1
            self._exclusive_waiting += 1
            try:
                return (
                    self._cond.wait_for(
                        lambda: (
                            not self._held
                            and self._shared == 0
                            and (high or self._high_waiting == 0)
                        ),
                        timeout,
                    )
                    and self._take()
                )
            finally:
                self._exclusive_waiting -= 1
                if high:
                    self._high_waiting -= 1
                self._cond.notify_all()

    def _take(self) -> bool:
        self._held = True
        return True

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def acquire_shared(self, *, timeout: float | None = None) -> bool:
        """Hold the lock together with other shared holders (background priority: it waits
        while anyone waits for the exclusive hold)."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: not self._held and self._exclusive_waiting == 0, timeout
            )
            if ok:
                self._shared += 1
            return ok

    def release_shared(self) -> None:
        with self._cond:
            self._shared -= 1
            self._cond.notify_all()

    @property
    def high_waiting(self) -> int:
        return self._high_waiting

    @property
    def shared_holders(self) -> int:
        return self._shared


class ModelManager:
    """Loads the backend the settings ask for (reusing it while they don't change) and
    serializes access to it. One per process; pass it where a model is needed."""

    def __init__(self) -> None:
        self._lock = PriorityLock()
        self._load_lock = threading.Lock()
        self._backend: Backend | None = None
        self._key: tuple[object, ...] | None = None

    @staticmethod
    def _key_of(settings: Settings) -> tuple[object, ...]:
        m = settings.model
        return (
            m.backend,
            m.path,
            m.n_ctx,
            m.threads,
            m.gpu_layers,
            m.base_url,
            m.api_model,
            settings.home,
        )

    def _ensure(self, settings: Settings) -> Backend:
        with self._load_lock:
            key = self._key_of(settings)
            if self._backend is None or key != self._key:
                if self._backend is not None:
                    self._backend.close()
                    self._backend = None
                self._backend = create_backend(settings)
                self._key = key
            return self._backend

    @contextmanager
    def use(self, settings: Settings, *, interactive: bool = True) -> Iterator[Backend]:
        """Hold the model for one job. Loading happens inside the lock, so a settings change
        never closes a model another thread is using."""
        self._lock.acquire(high=interactive)
        try:
            yield self._ensure(settings)
        finally:
            self._lock.release()

    @contextmanager
    def share(self, settings: Settings, *, interactive: bool = False) -> Iterator[Backend]:
        """Hold the model for one request of a fan-out job (a review-grid cell). A backend that
        serves concurrent requests (`concurrent = True`) is held shared, so many requests run
        at once; any other is held exclusively, like `use()`."""
        self._lock.acquire_shared()
        backend = self._backend
        if (
            backend is not None
            and getattr(backend, "concurrent", False)
            and self._key == self._key_of(settings)
        ):
            try:
                yield backend
            finally:
                self._lock.release_shared()
            return
        self._lock.release_shared()
        # not loaded, other settings, or an in-process model: the exclusive hold
        self._lock.acquire(high=interactive)
        try:
            backend = self._ensure(settings)
            if not getattr(backend, "concurrent", False):
                yield backend
                return
        finally:
            self._lock.release()
        with self.share(settings, interactive=interactive) as shared:
            yield shared

    def concurrent(self, settings: Settings) -> bool:
        """Whether the backend `settings` select serves concurrent requests (loads it)."""
        with self.use(settings, interactive=False) as backend:
            return bool(getattr(backend, "concurrent", False))

    def acquire(self, settings: Settings, *, interactive: bool = True) -> Backend:
        """Take the model for a job that ends later (a stream); pair with `release()`."""
        self._lock.acquire(high=interactive)
        try:
            return self._ensure(settings)
        except BaseException:
            self._lock.release()
            raise

    def release(self) -> None:
        self._lock.release()

    @property
    def questions_waiting(self) -> bool:
        return self._lock.high_waiting > 0

    @property
    def loaded(self) -> Backend | None:
        return self._backend

    def close(self) -> None:
        with self._load_lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None
                self._key = None
