"""Instructions per feed request over HTTP, counted by valgrind: a measure this noisy machine can't blur.

    python bench/http_instructions.py                       # this checkout, the demo community
    python bench/http_instructions.py --baseline HEAD~3     # and an older commit, side by side

The shared machines here slow down by 1.5-5x for minutes at a time, and a change worth 3% of a
request is invisible in requests per second. Instructions do not drift: one worker serves the
demo under callgrind (``valgrind --tool=callgrind``), and only the measured requests are counted,
from the event loop to the background writer's session insert. Repeated runs agreed within 0.4%.

The demo is built in a temp folder and every user's feed state is warmed by a normal server
first (so no request embeds anything). Then each tree (this checkout, and ``--baseline`` taken
from git into a temp folder) serves a copy of that database under valgrind: page 1 of every
user's feed, ``--warmup`` more, then counting starts (a signal to a valgrind client request,
compiled from ``valgrind/callgrind.h`` with the machine's C compiler), ``--requests`` page-1
requests for random users, two seconds for the writer, counting stops. Both trees run at once:
instruction counts do not depend on what else runs.

Valgrind runs code some 50 times slower, so the feed's sources would overrun their 300 ms
limit and be skipped: the server here runs them without a limit.

An instruction is not a fixed time: numpy's bulk loops retire several a cycle, the interpreter
fewer. Session 11's changes took 15.6% of the instructions off a demo request; the HTTP benchmark
(``bench/http_feed.py``, 2 workers, five runs alternated with the baseline's) used 16% less
server CPU per request, but two 1-worker servers alternating on one core showed only 2% less (24
rounds, at a time the machine ran 4x slow). Use this to see whether a change does less work, and
``bench/http_feed.py`` (or a sampling profile of a loaded server, e.g. py-spy) for the time.
Needs ``valgrind`` and a C compiler (Debian packages ``valgrind`` and ``gcc``). Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import httpx
from http_feed import (  # this folder, first on sys.path as a script
    build_demo,
    free_port,
    start_server,
    warm_every_user,
)

ROOT = Path(__file__).resolve().parents[1]

MARKER_C = """
#include <valgrind/callgrind.h>
void start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void stop(void) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS_AT("measured"); }
"""

# The server under valgrind: the tree in the working folder comes first on sys.path, SIGUSR1
# starts counting, SIGUSR2 stops it, the sources run without their time limit.
SERVER = """
import ctypes, os, signal, sys
sys.path.insert(0, os.getcwd())
marker = ctypes.CDLL(sys.argv[1])
import townsquare
print("townsquare from", townsquare.__file__, file=sys.stderr, flush=True)
import townsquare.feed.pipeline as pipeline
gather = pipeline.gather
pipeline.gather = lambda sources, ctx, timeout_ms: gather(sources, ctx, 1e9)
signal.signal(signal.SIGUSR1, lambda *_: marker.start())
signal.signal(signal.SIGUSR2, lambda *_: marker.stop())
import uvicorn
uvicorn.run("townsquare.web.app:factory", factory=True, host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning", access_log=False)
"""


def wait_ready(base: str, server: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}")
        try:
            if httpx.get(base + "/readyz", timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    raise SystemExit(f"the server was not ready after {timeout_s:.0f} s")


def get_page(client: httpx.Client, key: str, handle: str) -> None:
    response = client.get(f"/v1/users/{handle}/feed", params={"limit": 20},
                          headers={"Authorization": f"Bearer {key}"})
    if response.status_code != 200:
        raise SystemExit(f"GET feed of {handle}: {response.status_code} {response.text[:300]}")


def warm_states(url: str, folder: Path, key: str, handles: list[str]) -> None:
    """Page 1 of every user once on a normal server: their interest states are embedded and saved."""
    port = free_port()
    server = start_server(url, 1, port, None, folder)
    try:
        wait_ready(f"http://127.0.0.1:{port}", server, 300)
        warmed = warm_every_user(f"http://127.0.0.1:{port}", key, handles, 2, 20)
        if warmed != len(handles):
            raise SystemExit(f"only {warmed} of {len(handles)} users' first pages were served while warming")
    finally:
        server.terminate()
        server.wait(60)


def count(tree: Path, database: Path, folder: Path, marker: Path, key: str, handles: list[str],
          warmup: int, requests: int) -> dict:
    """Instructions per request of one tree's server, under callgrind."""
    port, out = free_port(), folder / "callgrind.out"
    (folder / "server.py").write_text(SERVER)
    env = {"TOWNSQUARE_DATABASE_URL": f"sqlite:///{database}", "TOWNSQUARE_DATA_DIR": str(folder),
           "TOWNSQUARE_WEB_RATE_PER_S": "1000000", "TOWNSQUARE_WEB_RATE_BURST": "1000000",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", sys.executable,
         str(folder / "server.py"), str(marker), str(port)],
        cwd=tree, env={**{k: v for k, v in os.environ.items() if not k.startswith("TOWNSQUARE_")}, **env}, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}", server, 1800)
        rng = random.Random(0)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            for handle in handles + [rng.choice(handles) for _ in range(warmup)]:
                get_page(client, key, handle)
            time.sleep(2.0)
            server.send_signal(signal.SIGUSR1)
            time.sleep(0.5)
            for _ in range(requests):
                get_page(client, key, rng.choice(handles))
            time.sleep(2.0)  # the background writer stores the last sessions
            server.send_signal(signal.SIGUSR2)
            time.sleep(2.0)
    finally:
        server.terminate()
        server.wait(300)
        log.close()
    served_from = next((line.split("townsquare from", 1)[1].strip() for line in
                        (folder / "server.log").read_text().splitlines() if "townsquare from" in line), "")
    if not served_from.startswith(str(tree)):
        raise SystemExit(f"the server under {tree} imported townsquare from {served_from or 'nowhere'}")
    dumps = sorted(folder.glob("callgrind.out.*"))
    if not dumps:
        raise SystemExit(f"callgrind wrote no counts; see {folder / 'server.log'}")
    total = next(int(line.split()[1]) for line in dumps[-1].read_text().splitlines() if line.startswith("totals:"))
    return {"tree": str(tree), "instructions_per_request": round(total / requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="A commit to count beside this checkout (e.g. HEAD~3).")
    parser.add_argument("--requests", type=int, default=20, help="Requests counted (each a new page 1).")
    parser.add_argument("--warmup", type=int, default=5, help="Requests after every user's first, not counted.")
    args = parser.parse_args()
    for tool in ("valgrind", "cc"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (Debian packages valgrind and gcc)")

    from sqlalchemy import select

    from townsquare.storage import Store
    from townsquare.storage.schema import users
    from townsquare.web.auth import KeyBook

    work = Path(tempfile.mkdtemp(prefix="townsquare-instructions-"))
    marker = work / "marker.so"
    (work / "marker.c").write_text(MARKER_C)
    compiled = subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(marker), str(work / "marker.c")],
                              check=False, capture_output=True, text=True)
    if compiled.returncode:
        raise SystemExit(f"could not compile the callgrind marker: {compiled.stderr.strip()}")
    demo = work / "demo"
    demo.mkdir()
    url = build_demo(demo)
    store = Store.open(url)
    key, _ = KeyBook(store).create(["read"], name="bench/http_instructions.py")
    with store.read() as conn:
        handles = list(conn.execute(select(users.c.handle).order_by(users.c.id)).scalars())
    store.close()
    warm_states(url, demo, key, handles)

    trees = {"this": ROOT}
    if args.baseline:
        rev = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
        trees["baseline"] = work / f"baseline-{rev}"
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(trees["baseline"], filter="data")
    results: dict[str, dict] = {}
    errors: dict[str, str] = {}

    def run(name: str, tree: Path) -> None:
        folder = work / f"run-{name}"
        shutil.copytree(demo, folder)
        try:
            results[name] = count(tree, folder / "townsquare.sqlite", folder, marker, key, handles, args.warmup,
                                  args.requests)
        except (SystemExit, Exception) as error:  # noqa: BLE001 - reported below, with the other tree's result
            errors[name] = str(error)

    threads = [threading.Thread(target=run, args=item) for item in trees.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit("; ".join(f"{name}: {error}" for name, error in errors.items()) + f" (logs in {work})")
    report = {"corpus": "demo", "requests": args.requests, **results}
    if "baseline" in results:
        report["baseline_commit"] = rev
        report["ratio_this_over_baseline"] = round(
            results["this"]["instructions_per_request"] / results["baseline"]["instructions_per_request"], 4)
    print(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
