"""Real models from installed packages, each loaded once per test session.

``llama_server`` starts a real ``python -m llama_cpp.server`` on 127.0.0.1 (a free port) with
the packaged SmolLM2 GGUF, once per session, and stops it at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from townsquare.models.files import GgufSpec, resolve_gguf
from townsquare.models.llama_cpp_generator import LlamaCppGenerator
from townsquare.models.onnx_embedder import OnnxEmbedder
from townsquare.models.openai_generator import OpenAIGenerator


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def onnx_embedder(model_cache_dir) -> OnnxEmbedder:
    return OnnxEmbedder(cache_dir=model_cache_dir, threads=2)


@pytest.fixture(scope="session")
def st_embedder():
    pytest.importorskip("torch", reason="the reference needs the sentence-transformers extra")
    pytest.importorskip("sentence_transformers", reason="the reference needs the sentence-transformers extra")
    from townsquare.models.st_embedder import SentenceTransformerEmbedder
    return SentenceTransformerEmbedder(threads=2)


@pytest.fixture(scope="session")
def smollm2_spec(model_cache_dir) -> GgufSpec:
    return resolve_gguf("smollm2", model_cache_dir)


@pytest.fixture(scope="session")
def llama_cpp_generator(smollm2_spec) -> LlamaCppGenerator:
    return LlamaCppGenerator(smollm2_spec, threads=2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    return free_port()


@pytest.fixture(scope="session")
def llama_server(smollm2_spec, tmp_path_factory) -> str:
    """Base URL (``.../v1``) of a real llama.cpp OpenAI-compatible server on this machine."""
    pytest.importorskip("llama_cpp.server.app", reason='needs pip install "llama-cpp-python[server]"')
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_spec.path),
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(smollm2_spec.n_ctx),
               "--n_threads", "2", "--n_threads_batch", "2", "--verbose", "False"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(process, base_url, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(process: subprocess.Popen, base_url: str, log_path: Path, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server did not start within {limit_s} s:\n{log_path.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def openai_generator(llama_server) -> OpenAIGenerator:
    generator = OpenAIGenerator(llama_server, "smollm2", timeout_s=60, max_retries=1)
    yield generator
    generator.close()
