"""Pick an embedder or generator by the names in settings; unknown names list what exists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from townsquare.errors import ConfigError
from townsquare.models.base import Embedder, Generator
from townsquare.models.cache import CachedEmbedder, EmbeddingCache
from townsquare.models.files import model_cache_dir
from townsquare.settings import Settings


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: str  # "embedder" | "generator backend" | "local generator model"
    description: str


EMBEDDERS: dict[str, str] = {
    "minilm": "all-MiniLM-L6-v2 on onnxruntime (default; no torch). Or give a folder with a BERT "
              "model.safetensors + tokenizer.json.",
    "minilm-torch": "all-MiniLM-L6-v2 on sentence-transformers + torch (reference; optional extra).",
}
GENERATOR_BACKENDS: dict[str, str] = {
    "llama_cpp": "A local GGUF through llama-cpp-python: generator_model = smollm2, gemma3 or a .gguf path.",
    "openai": "Any OpenAI-compatible server: openai_base_url, generator_model (its model name), openai_api_key.",
}
LOCAL_MODELS: dict[str, str] = {
    "smollm2": "SmolLM2-135M-Instruct (default), the packaged Q4_1 file converted once to Q8_0 in the model "
               "cache (reads prompts faster): chat template, fits short replies.",
    "smollm2-q4": "SmolLM2-135M-Instruct, the packaged Q4_1 file as it is (smaller, slower to read prompts).",
    "gemma3": "Gemma 3 270M Q4_K_M, base model: few-shot completion prompts only.",
}


def known_models() -> list[ModelInfo]:
    """Every name the registry knows, for ``townsquare models``."""
    return ([ModelInfo(n, "embedder", d) for n, d in EMBEDDERS.items()]
            + [ModelInfo(n, "generator backend", d) for n, d in GENERATOR_BACKENDS.items()]
            + [ModelInfo(n, "local generator model", d) for n, d in LOCAL_MODELS.items()])


def get_embedder(settings: Settings, cache: EmbeddingCache | None = None) -> Embedder:
    """The process-wide embedder named by ``settings.embed_model``, wrapped in ``cache`` if given."""
    embedder = _shared_embedder(settings.embed_model, settings.threads, model_cache_dir())
    return CachedEmbedder(embedder, cache) if cache is not None else embedder


@lru_cache(maxsize=8)
def _shared_embedder(name: str, threads: int, cache_dir: Path) -> Embedder:
    if name == "minilm-torch":
        from townsquare.models.st_embedder import SentenceTransformerEmbedder
        return SentenceTransformerEmbedder("minilm", threads=threads)
    if name == "minilm" or Path(name).expanduser().is_dir():
        from townsquare.models.onnx_embedder import OnnxEmbedder
        return OnnxEmbedder(name, cache_dir=cache_dir, threads=threads)
    raise ConfigError(f"unknown embedding model '{name}' (TOWNSQUARE_EMBED_MODEL); known: "
                      f"{', '.join(EMBEDDERS)}, or a folder with model.safetensors and tokenizer.json")


def get_generator(settings: Settings) -> Generator:
    """The generator for ``settings.generator_backend`` / ``generator_model``; models load lazily."""
    factory = _GENERATOR_FACTORIES.get(settings.generator_backend)
    if factory is None:
        raise ConfigError(f"unknown generator backend '{settings.generator_backend}' "
                          f"(TOWNSQUARE_GENERATOR_BACKEND); known: {', '.join(_GENERATOR_FACTORIES)}")
    return factory(settings)


def _llama_cpp(settings: Settings) -> Generator:
    from townsquare.models.files import resolve_gguf
    from townsquare.models.llama_cpp_generator import LlamaCppGenerator
    return LlamaCppGenerator(resolve_gguf(settings.generator_model, model_cache_dir()),
                             threads=settings.threads)


def _openai(settings: Settings) -> Generator:
    from townsquare.models.openai_generator import OpenAIGenerator
    return OpenAIGenerator(settings.openai_base_url, settings.generator_model, api_key=settings.openai_api_key,
                           timeout_s=settings.openai_timeout_s, max_retries=settings.openai_max_retries)


_GENERATOR_FACTORIES: dict[str, Callable[[Settings], Generator]] = {"llama_cpp": _llama_cpp, "openai": _openai}
