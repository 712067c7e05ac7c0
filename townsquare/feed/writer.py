"""``BackgroundWriter``: the feed's writes that no response waits for, on one thread.

Session pools and interest checkpoints are written after the page is served. One thread keeps
them in order and never competes with itself for SQLite's single write lock; ``flush`` waits for
what is queued (tests, and short-lived processes before they exit). A failed write is logged:
both kinds are caches of what the interaction log already holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class BackgroundWriter:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.jobs, self.busy_s = 0, 0.0  # what the writer did: for benchmarks and metrics
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, write: Callable[[], None], what: str) -> None:
        """Run ``write`` soon on the writer thread (at once, in this thread, when disabled)."""
        if not self.enabled:
            self._run(write, what)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="feed-writer")
        self._pool.submit(self._run, write, what)

    def _run(self, write: Callable[[], None], what: str) -> None:
        start = time.perf_counter()
        try:
            write()
        except Exception:  # see the module docstring
            log.exception("feed: could not write %s", what)
        self.jobs, self.busy_s = self.jobs + 1, self.busy_s + time.perf_counter() - start

    def flush(self) -> None:
        if self._pool is not None:
            self._pool.submit(lambda: None).result()
