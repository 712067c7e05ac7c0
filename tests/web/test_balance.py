"""Workers share how busy they are, and the busier one asks a kept-alive client to reconnect.

The other workers are real processes sharing the file, as uvicorn's workers do."""

from __future__ import annotations

import signal
import subprocess
import sys

from townsquare.web.balance import WorkerLoad

_WORKER = """
import sys
from pathlib import Path
from townsquare.web.balance import WorkerLoad
load = WorkerLoad(Path(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    load.started()
print(load.slot, flush=True)
sys.stdin.read()
"""


def _worker(path, busy: int) -> tuple[subprocess.Popen, int]:
    """Another worker with ``busy`` requests in progress, until its stdin closes."""
    process = subprocess.Popen([sys.executable, "-c", _WORKER, str(path), str(busy)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    return process, int(process.stdout.readline())


def _stop(process: subprocess.Popen) -> None:
    process.stdin.close()
    assert process.wait(timeout=30) == 0


def test_a_worker_over_its_share_of_the_requests_in_progress_says_so(tmp_path):
    path = tmp_path / "workers"
    me = WorkerLoad(path)
    assert not me.over_share()
    for _ in range(6):
        me.started()
    assert not me.over_share()  # alone: nothing to even out
    other, slot = _worker(path, busy=2)
    try:
        assert slot != me.slot
        assert me.over_share()  # 6 of 8 in progress, against a share of 4
        for _ in range(2):
            me.finished()
        assert me.over_share()  # 4 of 6: a share of 3
        me.finished()
        assert not me.over_share()  # 3 of 5: a share of 3 (rounded up)
    finally:
        _stop(other)
    assert not me.over_share()  # the other worker gave its slot back at exit
    me.release()
    assert not path.exists()  # the last worker out removes the file


def test_even_split_and_odd_remainder_are_within_the_share(tmp_path):
    path = tmp_path / "workers"
    me = WorkerLoad(path)
    other, _ = _worker(path, busy=4)
    try:
        for busy, over in ((3, False), (4, False), (5, False), (6, True)):  # 5 of 9 is as even as 9 goes
            while me._slots[me.slot, 1] < busy:
                me.started()
            assert me.over_share() is over, busy
    finally:
        _stop(other)
        me.release()


def test_a_slot_left_by_a_worker_that_died_is_taken_again(tmp_path):
    path = tmp_path / "workers"
    dead, slot = _worker(path, busy=3)
    dead.send_signal(signal.SIGKILL)  # no exit handler runs: the slot keeps its pid and count
    dead.wait(timeout=30)
    assert WorkerLoad(path).slot == slot


def test_the_response_of_a_worker_over_its_share_closes_the_connection(tmp_path, demo_db):
    from fastapi.testclient import TestClient

    from tests.web.conftest import World

    world = World(tmp_path, demo_db)
    with TestClient(world.app, base_url="http://testserver:18765") as client:
        assert "connection" not in client.get("/healthz").headers  # opens this worker's slot (port 18765)
        load = world.services.worker_load(18765)
        other, _ = _worker(load.path, busy=0)
        try:
            assert "connection" not in client.get("/healthz").headers  # 1 in progress of 1: its share
            load.started(), load.started()
            assert client.get("/healthz").headers["connection"] == "close"  # 3 of 3, against 2
            load.finished(), load.finished()
            assert "connection" not in client.get("/healthz").headers
        finally:
            _stop(other)
    assert load.slot is None and not load.path.exists()  # the app's shutdown gave the slot back
    world.store.close()


def test_a_slot_held_by_another_users_process_is_alive(monkeypatch):
    """``kill(pid, 0)`` on another user's process raises PermissionError: the process exists, so its
    slot must not be taken over (nor the error reach the worker)."""
    import os

    from townsquare.web import balance

    def refused(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    def gone(pid, sig):
        raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(os, "kill", refused)
    assert balance._alive(12345)
    monkeypatch.setattr(os, "kill", gone)
    assert not balance._alive(12345)
