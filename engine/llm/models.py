"""The process's one loaded model, shared by answers and the summary-tree builder.

A `Llama` must not be used from two threads at once, so every use goes through `ModelManager`'s
lock. Interactive questions take priority over background summary work: a background job
waits while any question is waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from engine.llm.backends import Backend, create_backend
from engine.settings import Settings

__all__ = ["ModelManager", "PriorityLock"]


class PriorityLock:
    """A mutex where high-priority acquirers go before low-priority ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._high_waiting = 0

    def acquire(self, *, high: bool = True, timeout: float | None = None) -> bool:
        with self._cond:
            if high:
                self._high_waiting += 1
            try:
                return (
                    self._cond.wait_for(
                        lambda: not self._held and (high or self._high_waiting == 0), timeout
                    )
                    and self._take()
                )
            finally:
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

    @property
    def high_waiting(self) -> int:
        return self._high_waiting


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
