"""The two model interfaces: ``Embedder`` (texts -> unit vectors) and ``Generator`` (prompt -> text)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class Embedder(ABC):
    """Texts in, L2-normalised float32 vectors out (one row per text, in input order)."""

    model_id: str
    dim: int

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape ``(len(texts), dim)`` whose rows have unit length."""

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["system", "user", "assistant"]
    content: str


class GenerationRequest(BaseModel):
    """What to generate. Exactly one of ``prompt`` (plain completion) or ``messages`` (chat)."""

    model_config = ConfigDict(extra="forbid")
    prompt: str | None = None
    messages: list[Message] | None = None
    max_tokens: int = Field(128, ge=1, le=8192)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    repeat_penalty: float = Field(1.1, ge=1.0, le=2.0, description="Only local backends apply it.")
    seed: int | None = Field(None, ge=0)
    stop: list[str] = Field(default_factory=list)
    json_schema: dict[str, Any] | None = Field(
        None, description="Constrain the output to JSON matching this schema (backends with a grammar).")
    reuse_prefix: bool = Field(
        False, description="Local backends may keep the previous request's context for the prompt's shared "
        "beginning (faster for several requests over one post; the output may then differ in rounding).")

    @model_validator(mode="after")
    def _one_input(self) -> GenerationRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt or messages")
        return self


class GenerationResult(BaseModel):
    """Generated text and what it cost."""

    text: str
    finish_reason: str = Field(description="'stop' (stop sequence or end of text) or 'length' (max_tokens).")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""


class Generator(ABC):
    """Prompt or messages in, text out; ``stream`` yields the same text in pieces."""

    model_id: str
    supports_json_schema: bool = False

    @abstractmethod
    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Generate the whole answer."""

    @abstractmethod
    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the answer as text pieces, as soon as the backend produces them."""
