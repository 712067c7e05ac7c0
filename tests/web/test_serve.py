"""`townsquare serve` as `make demo` runs it: real worker processes on a port, a browser's sign-in, the policy
file edited under them, a clean stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RULE = '[[rules]]\nclassifier = "offensive"\nlabel = "offensive"\nthreshold = 0.9\naction = "label"\n'


def _readyz_until(base: str, wanted, seconds: float = 60) -> None:
    """Poll /readyz (a new connection each time, so both workers answer) until ten answers in a row are
    ``wanted``."""
    deadline, in_a_row = time.monotonic() + seconds, 0
    while in_a_row < 10:
        assert time.monotonic() < deadline, "readyz never settled"
        try:
            answer = httpx.get(f"{base}/readyz", timeout=2).json()
        except httpx.HTTPError:
            answer = {}
        in_a_row = in_a_row + 1 if wanted(answer) else 0
        time.sleep(0.05)


def test_serve_starts_workers_that_answer_and_stops_cleanly(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text(RULE)
    env = {**os.environ, "TOWNSQUARE_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1",
           "TOWNSQUARE_SAFETY_POLICY": str(policy), "TOWNSQUARE_WEB_POLICY_CHECK_S": "0.2"}
    env.pop("TOWNSQUARE_DATABASE_URL", None)
    townsquare = [sys.executable, "-m", "townsquare"]
    loaded = subprocess.run([*townsquare, "demo", "load"], env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    port = _free_port()
    server = subprocess.Popen([*townsquare, "serve", "--demo", "--port", str(port), "--workers", "2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read()[-3000:]
            try:
                if httpx.get(f"{base}/readyz", timeout=2).json().get("status") == "ready":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "not ready in 120 s"
            time.sleep(0.3)
        with httpx.Client(base_url=base, timeout=30) as browser:
            page = browser.get("/signin")
            handle = re.search(r'<option value="([^"]+)"', page.text).group(1)
            home = browser.post("/signin", data={"handle": handle}, follow_redirects=True)
            assert home.status_code == 200 and home.url.path == "/home"
            assert home.text.count("Why am I seeing this?") >= 10
            missing = browser.get("/no-such-page", headers={"accept": "text/html"})
            assert missing.status_code == 404 and "There is no page at /no-such-page." in missing.text
            # every worker takes an edit of its policy file; a broken one is reported, not taken
            _readyz_until(base, lambda a: a.get("status") == "ready" and "policy_error" not in a)
            policy.write_text(RULE.replace('"offensive"\nthreshold', '"rude"\nthreshold'))
            _readyz_until(base, lambda a: "has no label 'rude'" in a.get("policy_error", ""))
            policy.write_text(RULE + "# fixed\n")
            _readyz_until(base, lambda a: a.get("status") == "ready" and "policy_error" not in a)
            assert browser.get("/home").status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=60)[0]
    assert server.returncode == 0 and "Traceback" not in output, output[-3000:]


def test_serve_on_a_port_in_use_says_so_before_announcing_itself(tmp_path):
    env = {**os.environ, "TOWNSQUARE_DATA_DIR": str(tmp_path / "data")}
    env.pop("TOWNSQUARE_DATABASE_URL", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "townsquare", "serve", "--port", str(port)], env=env,
                                capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "townsquare on http" not in result.stdout
