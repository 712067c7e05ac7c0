"""The moderation encoder: all-MiniLM-L6-v2 with townsquare's trained low-rank adapter merged in.

The adapter (a few hundred KB, shipped in ``townsquare/safety/shipped/``) holds, for the layers
it adapts, low-rank updates ``B @ A`` of every weight matrix plus new biases and LayerNorm
parameters, and says how many of MiniLM's layers the encoder keeps (the shipped one keeps four
of six, for speed). ``merge_adapter`` applies it to the base safetensors weights with numpy; the
merged model is written once to the model cache and served by ``OnnxEmbedder`` (onnxruntime, no
torch), quantised to int8 when the adapter's metadata says ``int8``. All text classifiers share
this one encoder pass per post.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from townsquare.errors import NotFoundError
from townsquare.models.base import Embedder
from townsquare.models.files import minilm_dir, model_cache_dir, private_tmp

ADAPTER_MATRICES = ("attention.self.query", "attention.self.key", "attention.self.value",
                    "attention.output.dense", "intermediate.dense", "output.dense")


def read_adapter(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(metadata, arrays) of an adapter ``.npz`` written by ``save_adapter``."""
    if not path.is_file():
        raise NotFoundError(f"encoder adapter {path} not found; run `townsquare train moderation-models` "
                            "or reinstall townsquare")
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files if key != "meta"}
        meta = json.loads(str(data["meta"]))
    return meta, arrays


def save_adapter(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    return path


def merge_adapter(base: dict[str, np.ndarray], meta: dict[str, Any],
                  arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Base BERT weights with the adapter applied: ``W + scale * B @ A``; vectors replaced."""
    merged = dict(base)
    scale = float(meta["scale"])
    for key, value in arrays.items():
        if key.endswith(".lora_A"):
            name = key.removesuffix(".lora_A")
            delta = arrays[name + ".lora_B"].astype(np.float32) @ value.astype(np.float32)
            merged[name + ".weight"] = (base[name + ".weight"] + scale * delta).astype(np.float32)
        elif not key.endswith(".lora_B"):
            merged[key] = value.astype(np.float32)
    layers = int(meta.get("num_layers", 0)) or None
    if layers is not None:  # a shortened encoder drops the layers above ``num_layers``
        merged = {k: v for k, v in merged.items()
                  if not k.startswith("encoder.layer.") or int(k.split(".")[2]) < layers}
    return merged


def emoji_as_words(text: str) -> str:
    """``text`` with each emoji and other pictographic symbol spelt out by its Unicode name ("😂" becomes
    " face with tears of joy "). MiniLM's vocabulary has no emoji, so it reads every one as the same
    ``[UNK]``. Skin-tone modifiers, variation selectors and joiners carry no words and are dropped. On the
    shipped adapter this lifted validation AUC on offensive, hate and emotion (docs/safety.md)."""
    if text.isascii():
        return text
    out = []
    for ch in text:
        if ch in _SILENT or "\U0001f3fb" <= ch <= "\U0001f3ff":  # skin tones
            continue
        if unicodedata.category(ch) == "So" and (name := unicodedata.name(ch, "")):
            out.append(f" {name.lower()} ")
        else:
            out.append(ch)
    return "".join(out)


_SILENT = frozenset("\ufe0e\ufe0f\u200d")


class ModerationEncoder(Embedder):
    """Texts in, the adapted encoder's L2-normalised vectors out (lazy: built on first use)."""

    def __init__(self, adapter: Path, *, cache_dir: Path | None = None, threads: int = 2,
                 base: str = "minilm", int8: bool | None = None) -> None:
        self.adapter = adapter
        self.meta, _ = read_adapter(adapter)
        # served quantised (see ``quantize_int8``) as the adapter says, unless ``int8`` overrides it
        self.int8 = bool(self.meta.get("int8", False)) if int8 is None else int8
        # "-words": texts are read with their emoji spelt out (``emoji_as_words``); heads fitted on the
        # encoder before that refuse to load with it
        self.model_id = f"townsquare-moderation-{self.meta['version']}" + ("-int8" if self.int8 else "") + "-words"
        self.dim = int(self.meta.get("dim", 384))
        self.threads, self.base = threads, base
        self.cache_dir = cache_dir or model_cache_dir()
        self._inner: Embedder | None = None

    def model_folder(self) -> Path:
        """The merged model folder in the cache (config, tokenizer, merged safetensors)."""
        digest = hashlib.sha256(self.adapter.read_bytes()).hexdigest()[:16]
        folder = self.cache_dir / f"townsquare-moderation-{self.meta['version']}-{digest}"  # int8 or not
        if (folder / "model.safetensors").is_file():
            return folder
        from safetensors.numpy import load_file, save_file

        base_dir = minilm_dir(self.base)
        meta, arrays = read_adapter(self.adapter)
        merged = merge_adapter(load_file(str(base_dir / "model.safetensors")), meta, arrays)
        tmp = private_tmp(folder)
        try:
            tmp.mkdir(parents=True)
            config = json.loads((base_dir / "config.json").read_text())
            config["num_hidden_layers"] = int(meta.get("num_layers") or config["num_hidden_layers"])
            (tmp / "config.json").write_text(json.dumps(config))
            (tmp / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": meta["max_length"]}))
            shutil.copy(base_dir / "tokenizer.json", tmp / "tokenizer.json")
            save_file({k: np.ascontiguousarray(v) for k, v in merged.items()}, str(tmp / "model.safetensors"))
            if folder.is_dir() and not (folder / "model.safetensors").is_file():
                shutil.rmtree(folder, ignore_errors=True)  # incomplete (a file removed by hand): replace it
            try:
                tmp.rename(folder)
            except OSError:  # another worker merged the same adapter first: theirs is identical
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename succeeded
        return folder

    def _encoder(self) -> Embedder:
        if self._inner is None:
            from townsquare.models.onnx_embedder import OnnxEmbedder

            self._inner = OnnxEmbedder(self.model_folder(), cache_dir=self.cache_dir, threads=self.threads,
                                       model_id=self.model_id, int8=self.int8)
        return self._inner

    def embed(self, texts) -> np.ndarray:
        return self._encoder().embed([emoji_as_words(t) for t in texts])
