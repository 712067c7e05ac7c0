"""Language models: text embedders and text generators, local by default, remote on request.

Nothing loads at import: ``get_embedder(settings)`` and ``get_generator(settings)`` return
objects whose models load on first use, once per process.
"""

from townsquare.models.base import Embedder, GenerationRequest, GenerationResult, Generator, Message
from townsquare.models.cache import CachedEmbedder, EmbeddingCache, MemoryEmbeddingCache, text_key
from townsquare.models.pii import PiiSpan, find_pii, mask_pii
from townsquare.models.prompts import chat_messages, fence, few_shot_prompt, neutralise
from townsquare.models.registry import ModelInfo, get_embedder, get_generator, known_models

__all__ = [
    "CachedEmbedder",
    "Embedder",
    "EmbeddingCache",
    "GenerationRequest",
    "GenerationResult",
    "Generator",
    "MemoryEmbeddingCache",
    "Message",
    "ModelInfo",
    "PiiSpan",
    "chat_messages",
    "fence",
    "few_shot_prompt",
    "find_pii",
    "get_embedder",
    "get_generator",
    "known_models",
    "mask_pii",
    "neutralise",
    "text_key",
]


def __getattr__(name: str):
    """Backends import their heavy dependencies lazily: ``townsquare.models.OnnxEmbedder`` etc."""
    lazy = {
        "OnnxEmbedder": "townsquare.models.onnx_embedder",
        "SentenceTransformerEmbedder": "townsquare.models.st_embedder",
        "LlamaCppGenerator": "townsquare.models.llama_cpp_generator",
        "OpenAIGenerator": "townsquare.models.openai_generator",
    }
    if name in lazy:
        import importlib
        return getattr(importlib.import_module(lazy[name]), name)
    raise AttributeError(f"module 'townsquare.models' has no attribute {name!r}")
