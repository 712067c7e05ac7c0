"""How a server worker starts: ``factory()`` as uvicorn calls it in each worker process."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

import pytest


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: every BLAS has one thread anyway")
def test_a_worker_keeps_every_blas_it_loads_to_one_thread(tmp_path, demo_db):
    """SciPy's OpenBLAS loads with the feed, after ``factory`` limits the BLAS threads: its idle
    threads spun and a worker used two cores. Checked in a fresh process, as a worker starts."""
    shutil.copy(demo_db, tmp_path / "townsquare.sqlite")
    script = (
        "from threadpoolctl import threadpool_info\n"
        "from townsquare.web.app import factory\n"
        "app = factory()\n"
        "app.state.services.feed\n"
        "print([(i['filepath'], i['num_threads']) for i in threadpool_info() if i['user_api'] == 'blas'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env.update(TOWNSQUARE_DATA_DIR=str(tmp_path),
               TOWNSQUARE_DATABASE_URL=f"sqlite:///{tmp_path / 'townsquare.sqlite'}")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    blas = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert len(blas) >= 2 and all(threads == 1 for _, threads in blas), blas
