"""``LlamaCppGenerator``: a local GGUF model through llama-cpp-python.

Each model file loads once per process, on first use, and is shared by every generator that
names it; a lock serialises calls because a llama.cpp context holds one sequence at a time.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from townsquare.errors import BackendError
from townsquare.models.base import GenerationRequest, GenerationResult, Generator, Message
from townsquare.models.files import LLAMA_CPP_INSTALL, GgufSpec, import_optional


@dataclass
class LoadedModel:
    """A loaded ``llama_cpp.Llama`` and the lock that guards it."""

    llm: Any
    chat: bool
    lock: threading.Lock = field(default_factory=threading.Lock)


_loaded: dict[tuple[str, int, int], LoadedModel] = {}
_loading = threading.Lock()


_AMX_SYMBOL = "_Z28ggml_backend_amx_buffer_typev"  # ggml_backend_amx_buffer_type(), C++ name


def check_build(llama_cpp: Any, cpuinfo: Path = Path("/proc/cpuinfo")) -> None:
    """Refuse a llama.cpp build whose AMX kernels would run: on AMX CPUs they crash the process.

    A build with ``GGML_NATIVE=ON`` on a machine with AMX compiles them in; ``make install``
    builds without them. A segfault cannot be caught, so this is checked before loading a model.
    """
    library = Path(llama_cpp.__file__).parent / "lib" / "libggml-cpu.so"
    if not library.exists() or not cpuinfo.exists() or " amx_int8" not in cpuinfo.read_text():
        return
    if hasattr(ctypes.CDLL(str(library)), _AMX_SYMBOL):
        raise BackendError(
            f"{library} was built with AMX kernels, which crash on this CPU. Rebuild llama-cpp-python "
            "without them: rm .venv/.installed && make install (see CMAKE_ARGS in the Makefile)"
        )


def load_gguf(spec: GgufSpec, threads: int) -> LoadedModel:
    """The process-wide loaded model for ``spec``; loads it on the first call."""
    key = (str(spec.path), spec.n_ctx, threads)
    with _loading:
        if key not in _loaded:
            llama_cpp = import_optional("llama_cpp", "llama-cpp-python", LLAMA_CPP_INSTALL)
            check_build(llama_cpp)
            try:
                llm = llama_cpp.Llama(model_path=str(spec.path), n_ctx=spec.n_ctx, n_threads=threads,
                                      n_threads_batch=threads, n_batch=512, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise BackendError(f"llama.cpp could not load {spec.path}: {exc}. Is it a valid GGUF file?") from exc
            atexit.register(llm.close)  # before interpreter teardown, or llama-cpp-python's __del__ errors
            chat = spec.chat if spec.chat is not None else "tokenizer.chat_template" in llm.metadata
            _loaded[key] = LoadedModel(llm, chat)
        return _loaded[key]


@lru_cache(maxsize=32)
def _grammar(schema_json: str):
    llama_cpp = import_optional("llama_cpp", "llama-cpp-python", LLAMA_CPP_INSTALL)
    return llama_cpp.LlamaGrammar.from_json_schema(schema_json, verbose=False)


class LlamaCppGenerator(Generator):
    """Generates with a local GGUF model (SmolLM2, Gemma 3, or any ``.gguf`` path).

    Chat models take ``messages`` through their own chat template. Base models (``chat`` False,
    e.g. Gemma 3 270M) are meant for few-shot completion prompts; messages given to them are
    written out as a plain ``User:``/``Assistant:`` transcript.
    """

    supports_json_schema = True

    def __init__(self, spec: GgufSpec, *, threads: int = 2) -> None:
        self.spec, self.threads, self.model_id = spec, threads, spec.name

    @property
    def model(self) -> LoadedModel:
        return load_gguf(self.spec, self.threads)

    def _call(self, request: GenerationRequest, stream: bool):
        model = self.model
        kwargs: dict[str, Any] = {"max_tokens": request.max_tokens, "temperature": request.temperature,
                                  "top_p": request.top_p, "repeat_penalty": request.repeat_penalty,
                                  "stop": list(request.stop), "seed": request.seed, "stream": stream}
        # Start from an empty context unless asked: reusing the previous request's KV-cache prefix
        # changes float rounding, and then the same seed no longer gives the same sample.
        if not request.reuse_prefix:
            model.llm.reset()
        if request.json_schema is not None:
            kwargs["grammar"] = _grammar(json.dumps(request.json_schema, sort_keys=True))
        if request.messages is not None and model.chat:
            messages = [{"role": m.role, "content": m.content} for m in request.messages]
            return model.llm.create_chat_completion(messages=messages, **kwargs)
        prompt = request.prompt if request.prompt is not None else transcript(request.messages or [])
        if request.prompt is None:
            kwargs["stop"] = kwargs["stop"] + ["\nUser:"]
        return model.llm.create_completion(prompt=prompt, **kwargs)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        with self.model.lock:
            answer = self._call(request, stream=False)
        choice = answer["choices"][0]
        text = choice["message"]["content"] if "message" in choice else choice["text"]
        usage = answer.get("usage") or {}
        return GenerationResult(text=text or "", finish_reason="length" if choice.get("finish_reason") == "length"
                                else "stop", prompt_tokens=usage.get("prompt_tokens", 0),
                                completion_tokens=usage.get("completion_tokens", 0), model=self.model_id)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        with self.model.lock:  # held until the caller finishes or closes the iterator
            for chunk in self._call(request, stream=True):
                choice = chunk["choices"][0]
                piece = choice.get("delta", {}).get("content") if "delta" in choice else choice.get("text")
                if piece:
                    yield piece


def transcript(messages: list[Message]) -> str:
    """Messages as a plain completion prompt, for models without a chat template."""
    lines = [m.content if m.role == "system" else f"{m.role.capitalize()}: {m.content}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"
