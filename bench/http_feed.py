"""Feed over HTTP: requests per second and latency percentiles with N uvicorn workers.

    python bench/http_feed.py --demo                              # the demo community in a temp SQLite, as of now
    python bench/http_feed.py --database-url sqlite:///.bench/feed/100000-1000000-10000000/corpus.sqlite \\
        --feed-model bench-lsa-384                           # the 1M-post corpus built by bench/feed.py

Starts ``uvicorn townsquare.web.app:factory`` with ``--workers`` processes (pinned to the first
two CPU cores with ``taskset`` when it exists), creates a read key, waits until ``/readyz`` says
every worker has loaded its feed index, asks for page 1 of every user once (a user's first feed
embeds their sign-up topics, once per server), warms the workers for 3 more seconds, then
``--clients`` connections request page 1 of a new feed session for a random user for
``--seconds``. Beside the rate it prints the server's CPU time per request (all its processes,
from ``/proc``), a fixed pure-Python loop's time at the start and end (the shared machines here
slow down by 1.5-5x for minutes at a time, and those two figures show when they did), and how the
connections were spread over the workers, sampled about five times (``ss``; ``--no-balance`` serves
without ``townsquare.web.balance``, to compare). The load comes from ``wrk`` (Debian package ``wrk``) when it is installed: a C
load generator takes little of the two cores the server runs on. Without it, Python threads
with httpx make the requests, and they take a share of the CPU the server needs (``--load``).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from machine import machine_speed_ms  # this folder, first on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]


def build_demo(folder: Path) -> str:
    """The demo as ``make demo`` serves it: its 30 days ending now, embedded, the ranker and the
    collaborative models trained, every post scored by the safety classifiers."""
    from datetime import UTC, datetime

    from townsquare.demo import demo_records
    from townsquare.feed.collaborative import CollaborativeModels, models_folder
    from townsquare.feed.index import FeedIndex
    from townsquare.feed.training import train_ranker
    from townsquare.ingest.embed import embed_posts, embed_users
    from townsquare.ingest.loader import Loader
    from townsquare.models.registry import get_embedder
    from townsquare.safety import score_posts, unscored_posts
    from townsquare.settings import Settings
    from townsquare.storage import Store

    url = f"sqlite:///{folder / 'townsquare.sqlite'}"
    store = Store.open(url)
    Loader(store).load(demo_records(end=datetime.now(UTC).replace(microsecond=0)))
    settings = Settings(data_dir=folder, database_url=url)
    embedder = get_embedder(settings, cache=store)
    embed_posts(store, embedder)
    embed_users(store, embedder)
    train_ranker(store, embedder.model_id)
    CollaborativeModels.train(FeedIndex.load(store, None)).save(models_folder(settings))
    score_posts(store, unscored_posts(store))
    store.close()
    return url


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and every process below it (Linux ``/proc``)."""
    parents, cpu = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(stat.parent.name)
        parents[pid], cpu[pid] = int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, grew = {root}, True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= below
        grew = bool(below)
    return sum(cpu.get(pid, 0.0) for pid in tree)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    url: str, workers: int, port: int, feed_model: str | None, data_dir: Path, balance: bool = True
) -> subprocess.Popen:
    env = {
        **os.environ,
        "TOWNSQUARE_DATABASE_URL": url,
        "TOWNSQUARE_DATA_DIR": str(data_dir),
        "TOWNSQUARE_WEB_RATE_PER_S": "1000000",
        "TOWNSQUARE_WEB_RATE_BURST": "1000000",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "TOWNSQUARE_WEB_BALANCE_WORKERS": str(balance).lower(),
    }
    if feed_model:
        env["TOWNSQUARE_WEB_FEED_MODEL"] = feed_model
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "townsquare.web.app:factory",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if shutil.which("taskset") and os.cpu_count() and os.cpu_count() >= 2:
        command = ["taskset", "-c", "0,1", *command]
    return subprocess.Popen(command, env=env, cwd=ROOT)


def connection_splits(port: int, every_s: float, stop: threading.Event) -> list[str]:
    """Every ``every_s``, how the clients' open connections are spread over the workers ("5/3"), from
    ``ss`` (iproute2); empty without it."""
    splits: list[str] = []
    if not shutil.which("ss"):
        return splits

    def sample() -> None:
        while not stop.wait(every_s):
            out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                                 capture_output=True, text=True, check=False).stdout
            per_pid = Counter(re.findall(r"pid=(\d+)", out))
            splits.append("/".join(str(n) for n in sorted(per_pid.values(), reverse=True)))

    threading.Thread(target=sample, daemon=True).start()
    return splits


def warm_every_user(base: str, key: str, handles: list[str], clients: int, limit: int) -> int:
    """Page 1 of every user once: a user's first feed embeds their sign-up topics (some 16 ms on the
    demo) and saves the state that every worker then reads, a cost a long-running server pays once."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http, \
            ThreadPoolExecutor(clients) as pool:
        def first_page(handle: str) -> bool:
            return http.get(f"/v1/users/{handle}/feed", params={"limit": limit}).status_code == 200

        return sum(pool.map(first_page, handles))


def measure(base: str, key: str, handles: list[str], clients: int, seconds: float, limit: int,
            pages: int = 1) -> dict:
    """Each client reads a random user's feed: page 1, then (``pages`` > 1) the next pages by cursor."""
    latencies: list[float] = []
    firsts = [0]
    errors: list[str] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            handle, cursor, page = rng.choice(handles), None, 0
            while time.monotonic() < stop:
                if cursor is None or page >= pages:
                    handle, cursor, page = rng.choice(handles), None, 0
                start = time.perf_counter()
                try:
                    params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
                    response = http.get(f"/v1/users/{handle}/feed", params=params)
                    ok = response.status_code == 200
                    detail = f"{response.status_code} {response.text[:120]}"
                except httpx.HTTPError as error:
                    ok, detail = False, repr(error)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed) if ok else errors.append(detail)
                    firsts[0] += ok and cursor is None
                cursor, page = (response.json()["cursor"], page + 1) if ok else (None, 0)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    ms = sorted(x * 1000 for x in latencies)

    def pct(p: float) -> float | None:
        return round(ms[min(len(ms) - 1, int(p * len(ms)))], 1) if ms else None

    return {
        "requests": len(ms),
        "first_pages": firsts[0],
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": round(wall, 1),
        "requests_per_s": round(len(ms) / wall, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
    }


WRK_SCRIPT = """
local handles = {%(handles)s}
local headers = {["Authorization"] = "Bearer %(key)s"}
local pages = %(pages)d
local counter, threads = 0, {}
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(seed * 7919)
  firsts, pending = 0, {}  -- this thread's page-1 requests; next pages to ask for: {handle, cursor}
end
function request()
  local next_page = table.remove(pending)
  if next_page then
    return wrk.format("GET", "/v1/users/" .. next_page[1] .. "/feed?limit=%(limit)d&cursor=" .. next_page[2], headers)
  end
  firsts = firsts + 1
  return wrk.format("GET", "/v1/users/" .. handles[math.random(#handles)] .. "/feed?limit=%(limit)d", headers)
end
if pages > 1 then
  -- the top-level user, page and cursor come before the items in the response
  function response(status, headers, body)
    if status ~= 200 then return end
    local page, cursor = tonumber(body:match('"page":(%%d+)')), body:match('"cursor":"([^"]+)"')
    if page and cursor and page < pages then table.insert(pending, {body:match('"user":"([^"]+)"'), cursor}) end
  end
end
function done(summary, latency, requests)
  local e, first_pages = summary.errors, 0
  for _, thread in ipairs(threads) do first_pages = first_pages + thread:get("firsts") end
  io.write(string.format(
    "JSON{\\"requests\\": %%d, \\"first_pages\\": %%d, \\"seconds\\": %%.3f, \\"non_2xx\\": %%d, " ..
    "\\"socket_errors\\": %%d, \\"p50_us\\": %%d, \\"p90_us\\": %%d, \\"p99_us\\": %%d, \\"mean_us\\": %%.0f}\\n",
    summary.requests, first_pages, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""


def measure_wrk(base: str, key: str, handles: list[str], clients: int, seconds: float, limit: int,
                pages: int = 1) -> dict:
    """The same load from wrk: ``clients`` connections over 2 threads, random users, page 1 (then the
    next pages by cursor, each wrk thread asking for its own sessions' next pages before new ones)."""
    script = WRK_SCRIPT % {
        "handles": ", ".join(json.dumps(h) for h in handles), "key": key, "limit": limit, "pages": pages,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    command = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds:.0f}s", "--timeout", "10s", "-s", file.name, base]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    os.unlink(file.name)
    raw = json.loads(out[out.index("JSON{") + 4:].splitlines()[0])
    ok = raw["requests"] - raw["non_2xx"] - raw["socket_errors"]
    return {
        "requests": raw["requests"],
        "first_pages": raw["first_pages"],
        "errors": raw["non_2xx"] + raw["socket_errors"],
        "seconds": round(raw["seconds"], 1),
        "requests_per_s": round(ok / raw["seconds"], 1),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p90_ms": round(raw["p90_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "mean_ms": round(raw["mean_us"] / 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="Build the demo community in a temp folder.")
    parser.add_argument(
        "--database-url", help="An existing database (e.g. the 1M corpus from bench/feed.py)."
    )
    parser.add_argument("--feed-model", help="The post-vector model the feed should read.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--pages", type=int, default=1,
                        help="Pages each reader scrolls: 1 = every request ranks a new feed session (the worst "
                             "case); 3 = page 1, then pages 2 and 3 by cursor, as a reader scrolls.")
    parser.add_argument("--users", type=int, default=2000, help="How many users to draw requests from.")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto",
                        help="Load generator: wrk when installed (auto), or Python threads.")
    parser.add_argument("--no-balance", dest="balance", action="store_false",
                        help="Serve with TOWNSQUARE_WEB_BALANCE_WORKERS=false: connections stay on the worker "
                             "that accepted them.")
    args = parser.parse_args()
    load = "wrk" if args.load == "wrk" or (args.load == "auto" and shutil.which("wrk")) else "python"
    if not (args.demo or args.database_url):
        parser.error("give --demo or --database-url")

    from sqlalchemy import select

    from townsquare.storage import Store
    from townsquare.storage.schema import users
    from townsquare.web.auth import KeyBook

    loop_at_start = machine_speed_ms()
    folder = Path(tempfile.mkdtemp(prefix="townsquare-http-"))
    url = build_demo(folder) if args.demo else args.database_url
    store = Store.open(url)
    key, _ = KeyBook(store).create(["read"], name="bench/http_feed.py")
    with store.read() as conn:
        handles = list(conn.execute(select(users.c.handle).order_by(users.c.id).limit(args.users)).scalars())
    store.close()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    server = start_server(url, args.workers, port, args.feed_model, folder, args.balance)
    try:
        ready_in_a_row = 0  # /readyz is 503 until the answering worker has loaded its feed index:
        while ready_in_a_row < 10:  # ten 200s in a row, so every worker has (each poll hits any of them)
            try:
                ok = httpx.get(base + "/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                ok = False
            ready_in_a_row = ready_in_a_row + 1 if ok else 0
            if server.poll() is not None or time.monotonic() - started > 900:
                raise SystemExit("the server did not get ready")
            time.sleep(0.05 if ok else 1.0)
        ready_s = time.monotonic() - started
        warmed_users = warm_every_user(base, key, handles, args.workers * 2, args.limit)
        warm = measure(base, key, handles, args.workers * 2, 3.0, args.limit)  # then 3 s more: caches
        run = measure_wrk if load == "wrk" else measure
        cpu_before = tree_cpu_s(server.pid)
        stop_sampling = threading.Event()
        splits = connection_splits(port, max(args.seconds / 5, 1.0), stop_sampling)
        result = run(base, key, handles, args.clients, args.seconds, args.limit, args.pages)
        stop_sampling.set()
        server_cpu_s = tree_cpu_s(server.pid) - cpu_before
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(folder, ignore_errors=True)  # the demo's database and the models built for it: up to 0.7 GB
    print(
        json.dumps(
            {
                "corpus": "demo" if args.demo else url,
                "workers": args.workers,
                "load": load,
                "clients": args.clients,
                "limit": args.limit,
                "pages_per_reader": args.pages,
                "server_ready_s": round(ready_s, 1),
                "warmup_requests": warmed_users + warm["requests"],
                **result,
                "server_cpu_ms_per_request": round(1000 * server_cpu_s / max(result["requests"], 1), 2),
                "balance_workers": args.balance,
                "connections_per_worker": splits,
                "server": {"http": "httptools" if importlib.util.find_spec("httptools") else "h11",
                           "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"},
                "cpus": os.cpu_count(),
                "python_loop_ms_at_start": loop_at_start,
                "python_loop_ms_at_end": machine_speed_ms(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
