"""Kept-alive connections spread evenly over a server's workers.

uvicorn's workers share one listening socket, and the kernel hands each new connection to
whichever worker accepts it first. A client that keeps a few connections open (a platform's
backend with a pool of eight, a load generator) can so leave six on one worker and two on the
other. Each worker is held to one core by its interpreter lock, so the first then serves three
quarters of the requests while the second idles. Ten benchmark runs of the demo feed with eight
connections over two workers met an uneven split four times, and a shorter run once put all eight
on one worker: 38.6 requests/s against 101-129 for 4/4 (docs/api.md).

Each worker counts the requests it has in progress in its own slot of a small shared file (one
file per server: its parent process and port). A worker holding more than its share of all the
workers' requests in progress answers with ``Connection: close``; the client reconnects, the
kernel hands the new connection to a worker again, and the closing goes on until the load is
even. A worker alone never closes a connection.
"""

from __future__ import annotations

import atexit
import fcntl
import math
import mmap
import os
from pathlib import Path

import numpy as np

SLOTS = 64  # workers a server may have; a worker that finds no free slot does not take part
_BYTES = SLOTS * 2 * 8  # per slot: the worker's pid and its requests in progress (int64 each)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        pass
    return True


def load_file(folder: Path, port: int) -> Path:
    """The file this server's workers share in ``folder`` (the data folder's ``run/``, private to the
    deployment rather than a shared temp folder): they are children of one process, on one port."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"workers-{os.getppid()}-{port}"


class WorkerLoad:
    """This worker's slot in the shared file: ``started``/``finished`` count its requests in progress,
    ``over_share`` says whether it holds more than its share of all the workers' ones."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two workers starting at once must not take one slot
            try:
                if os.fstat(fd).st_size < _BYTES:
                    os.ftruncate(fd, _BYTES)
                self._map = mmap.mmap(fd, _BYTES)
                self._slots = np.frombuffer(self._map, np.int64).reshape(SLOTS, 2)
                self.slot = self._claim()
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        if self.slot is not None:
            atexit.register(self.release)

    def _claim(self) -> int | None:
        """A slot that is free, this process's own, or left by a worker that died."""
        pid = os.getpid()
        for i, (owner, _) in enumerate(self._slots.tolist()):
            if owner in (0, pid) or not _alive(owner):
                self._slots[i] = (pid, 0)
                return i
        return None

    def started(self) -> None:
        if self.slot is not None:
            self._slots[self.slot, 1] += 1

    def finished(self) -> None:
        if self.slot is not None:
            self._slots[self.slot, 1] -= 1

    def over_share(self) -> bool:
        if self.slot is None:
            return False
        live = self._slots[self._slots[:, 0] != 0, 1]
        if len(live) < 2:
            return False
        return int(self._slots[self.slot, 1]) > math.ceil(int(live.sum()) / len(live))

    def release(self) -> None:
        """Give the slot back (at exit), and remove the file when no other worker holds one."""
        if self.slot is None or self._map.closed:
            return
        self._slots[self.slot] = (0, 0)
        self.slot = None
        if not self._slots[:, 0].any():
            self.path.unlink(missing_ok=True)
        del self._slots
        self._map.close()
