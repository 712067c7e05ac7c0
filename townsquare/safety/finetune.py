"""Train the shared moderation encoder adapter (multi-task, torch) and the shipped heads.

The encoder keeps MiniLM's first ``num_layers`` layers (four of six: all classifiers must run at
500 posts/s on two cores). The bottom ``first_layer`` layers stay frozen: their outputs are
computed once per text and kept in memory (fp16), so each training step only runs the layers
above. Those get low-rank (LoRA) updates of every weight matrix, plus trainable biases and
LayerNorms, learned jointly on offensive, hate, emotion, LIAR and CONSTRAINT with one linear
head per task. A tenth of each
training split is held out: the encoder never sees it, and the shipped heads are calibrated
and chosen on it. The validation splits are only measured.

Needs torch (training only; serving merges the adapter with numpy and runs onnxruntime).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from townsquare.errors import MissingDependencyError
from townsquare.models.files import minilm_dir
from townsquare.safety.encoder import ADAPTER_MATRICES, emoji_as_words

TORCH_INSTALL = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
Log = Callable[[str], None]


@dataclass(frozen=True)
class AdapterConfig:
    first_layer: int = 2          # layers below stay frozen
    num_layers: int = 4           # layers kept: the encoder is MiniLM's first four (speed), adapted
    rank: int = 12
    alpha: float = 16.0
    epochs: float = 2.0
    lr: float = 1e-3
    batch_size: int = 32
    max_length: int = 128
    logit_scale: float = 16.0     # heads read the L2-normalised vector times this
    seed: int = 0
    int8: bool = True             # serve the merged encoder quantised (``quantize_int8``): ~1.4x faster
    # Train on the texts with their emoji spelt out, as the encoder serves them, or as they are: the
    # shipped adapter was trained on raw text, which gave better heads on every task (docs/safety.md).
    emoji_as_words: bool = False
    # Texts per task the adapter trains on (a sample of each training split): the budget goes
    # to offensive language, which gains most from adapting the encoder; the other tasks keep
    # the encoder general. Heads are then fitted on the full training splits.
    task_texts: tuple[tuple[str, int], ...] = (("offensive", 8000), ("hate", 2000), ("emotion", 2000),
                                               ("misinfo_claims", 1500), ("misinfo_posts", 1500))


def _torch():
    try:
        import torch
    except ImportError as error:
        raise MissingDependencyError("torch (needed to train the encoder adapter)", TORCH_INSTALL) from error
    return torch


@dataclass
class FrozenStates:
    """Hidden states after the frozen layers, ragged: text i is ``states[offsets[i]:offsets[i+1]]``."""

    texts: list[str]
    offsets: np.ndarray
    states: np.ndarray  # (total tokens, hidden) float16

    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.texts)}

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "texts.json").write_text(json.dumps(self.texts))
        np.save(folder / "offs.npy", self.offsets)
        np.save(folder / "states.npy", self.states)

    @classmethod
    def load(cls, folder: Path) -> FrozenStates | None:
        if not (folder / "states.npy").is_file():
            return None
        return cls(json.loads((folder / "texts.json").read_text()), np.load(folder / "offs.npy"),
                   np.load(folder / "states.npy", mmap_mode="r"))


def states_folder(cache: Path, config: AdapterConfig) -> Path:
    """Where a cache keeps the states of ``config``'s frozen layers, apart for raw and spelt-out texts."""
    return cache / (f"h{config.first_layer}" + ("-words" if config.emoji_as_words else ""))


def frozen_states(texts: list[str], config: AdapterConfig, threads: int = 2, log: Log = print) -> FrozenStates:
    """Run the frozen bottom layers of MiniLM over every text once (length-sorted batches)."""
    torch = _torch()
    from tokenizers import Tokenizer
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(threads)
    folder = minilm_dir()
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=config.max_length)
    read = emoji_as_words if config.emoji_as_words else str
    ids = [e.ids for e in tokenizer.encode_batch([read(t) for t in texts])]
    lengths = np.array([len(i) for i in ids])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    states = np.zeros((offsets[-1], 384), np.float16)
    # Only the frozen layers run: their output is the last hidden state of a shortened BERT. Loading
    # it leaves the layers above unread, which transformers reports as a table of "unexpected" keys.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = BertModel.from_pretrained(str(folder), add_pooling_layer=False,
                                          num_hidden_layers=config.first_layer).eval()
    finally:
        hf_logging.set_verbosity(verbosity)
    order, start, done = np.argsort(-lengths), time.perf_counter(), 0
    with torch.inference_mode():
        for batch in _token_batches(order, lengths, 4096, 256):
            width = int(lengths[batch[0]])
            x = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, j in enumerate(batch):
                x[row, :lengths[j]] = torch.tensor(ids[j])
                mask[row, :lengths[j]] = 1
            h = model(input_ids=x, attention_mask=mask).last_hidden_state.numpy()
            for row, j in enumerate(batch):
                states[offsets[j]:offsets[j + 1]] = h[row, :lengths[j]]
            done += len(batch)
            if done % 5000 < len(batch):
                log(f"frozen layers: {done:,}/{len(texts):,} texts, {done / (time.perf_counter() - start):.0f}/s")
    return FrozenStates(texts, offsets, states)


def _token_batches(order: np.ndarray, lengths: np.ndarray, tokens: int, most: int) -> list[list[int]]:
    batches, current = [], []
    for j in order:
        if current and (len(current) + 1 > most or (len(current) + 1) * lengths[current[0]] > tokens):
            batches.append(current)
            current = []
        current.append(int(j))
    return batches + ([current] if current else [])


def build_model(config: AdapterConfig, task_labels: dict[str, list[str]]):
    """The trainable top of MiniLM (LoRA on every matrix, biases and LayerNorms) and one head per task."""
    torch = _torch()
    from safetensors.numpy import load_file

    nn, F = torch.nn, torch.nn.functional
    weights = load_file(str(minilm_dir() / "model.safetensors"))
    scale = config.alpha / config.rank

    class LoRALinear(nn.Module):
        def __init__(self, name: str) -> None:
            super().__init__()
            w = weights[name + ".weight"]
            self.weight = nn.Parameter(torch.tensor(w), requires_grad=False)
            self.bias = nn.Parameter(torch.tensor(weights[name + ".bias"]))
            self.A = nn.Parameter(torch.randn(config.rank, w.shape[1]) / math.sqrt(w.shape[1]))
            self.B = nn.Parameter(torch.zeros(w.shape[0], config.rank))

        def forward(self, x):
            return F.linear(x, self.weight, self.bias) + (F.dropout(x, 0.05, self.training) @ self.A.T @ self.B.T) * scale

    class Layer(nn.Module):
        def __init__(self, i: int) -> None:
            super().__init__()
            p = f"encoder.layer.{i}."
            self.prefix = p
            self.linears = nn.ModuleDict({m.replace(".", "_"): LoRALinear(p + m) for m in ADAPTER_MATRICES})
            self.norms = nn.ModuleDict({key: nn.LayerNorm(384, eps=1e-12) for key in ("attention", "output")})
            with torch.no_grad():
                for key, norm in self.norms.items():
                    base = p + ("attention.output.LayerNorm" if key == "attention" else "output.LayerNorm")
                    norm.weight.copy_(torch.tensor(weights[base + ".weight"]))
                    norm.bias.copy_(torch.tensor(weights[base + ".bias"]))

        def forward(self, x, mask):
            lin = self.linears
            b, t, _ = x.shape

            def heads(v):
                return v.view(b, t, 12, 32).transpose(1, 2)

            q, k, v = (heads(lin[f"attention_self_{n}"](x)) for n in ("query", "key", "value"))
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(32) + (1 - mask[:, None, None, :]) * -1e4
            context = (F.dropout(scores.softmax(-1), 0.1, self.training) @ v).transpose(1, 2).reshape(b, t, 384)
            h = self.norms["attention"](F.dropout(lin["attention_output_dense"](context), 0.1, self.training) + x)
            ffn = lin["output_dense"](F.gelu(lin["intermediate_dense"](h)))
            return self.norms["output"](F.dropout(ffn, 0.1, self.training) + h)

    class AdaptedTop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList([Layer(i) for i in range(config.first_layer, config.num_layers)])
            self.heads = nn.ModuleDict({t: nn.Linear(384, len(labels)) for t, labels in task_labels.items()})

        def embed(self, x, mask):
            for layer in self.layers:
                x = layer(x, mask)
            m = mask.unsqueeze(-1)
            return F.normalize((x * m).sum(1) / m.sum(1), dim=-1)

    return AdaptedTop()


def export_adapter(model, config: AdapterConfig, version: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The adapter arrays (LoRA A/B in float16, biases and LayerNorms in float32) and metadata."""
    arrays: dict[str, np.ndarray] = {}
    for layer in model.layers:
        p = layer.prefix
        for matrix in ADAPTER_MATRICES:
            lin = layer.linears[matrix.replace(".", "_")]
            arrays[f"{p}{matrix}.lora_A"] = lin.A.detach().numpy().astype(np.float16)
            arrays[f"{p}{matrix}.lora_B"] = lin.B.detach().numpy().astype(np.float16)
            arrays[f"{p}{matrix}.bias"] = lin.bias.detach().numpy().astype(np.float32)
        for key, base in (("attention", "attention.output.LayerNorm"), ("output", "output.LayerNorm")):
            arrays[f"{p}{base}.weight"] = layer.norms[key].weight.detach().numpy().astype(np.float32)
            arrays[f"{p}{base}.bias"] = layer.norms[key].bias.detach().numpy().astype(np.float32)
    meta = {"version": version, "base": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384,
            "num_layers": config.num_layers, "int8": config.int8,
            "scale": config.alpha / config.rank, "max_length": config.max_length, "config": asdict(config)}
    return meta, arrays


class _Batches:
    """Length-bucketed mini-batches of cached frozen states."""

    def __init__(self, frozen: FrozenStates, rng: np.random.Generator) -> None:
        self.frozen, self.rng = frozen, rng

    def plan(self, rows: np.ndarray, size: int, shuffle: bool = True) -> list[np.ndarray]:
        offs = self.frozen.offsets
        order = self.rng.permutation(len(rows)) if shuffle else np.arange(len(rows))
        out = []
        for start in range(0, len(order), size * 50):
            chunk = order[start:start + size * 50]
            chunk = chunk[np.argsort([offs[rows[j] + 1] - offs[rows[j]] for j in chunk], kind="stable")]
            out += [chunk[i:i + size] for i in range(0, len(chunk), size)]
        if shuffle:
            self.rng.shuffle(out)
        return out

    def tensors(self, text_ids: np.ndarray):
        torch = _torch()
        offs, states = self.frozen.offsets, self.frozen.states
        width = int(max(offs[i + 1] - offs[i] for i in text_ids))
        x = np.zeros((len(text_ids), width, states.shape[1]), np.float32)
        mask = np.zeros((len(text_ids), width), np.float32)
        for row, i in enumerate(text_ids):
            n = offs[i + 1] - offs[i]
            x[row, :n] = states[offs[i]:offs[i + 1]]
            mask[row, :n] = 1
        return torch.from_numpy(x), torch.from_numpy(mask)


def train_adapter(frozen: FrozenStates, tasks: dict[str, tuple[np.ndarray, np.ndarray, list[str]]],
                  config: AdapterConfig, threads: int = 2, log: Log = print):
    """Multi-task training. ``tasks``: name -> (text ids, label ids, label names)."""
    torch = _torch()
    torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = build_model(config, {t: labels for t, (_, _, labels) in tasks.items()})
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.01)
    batches = _Batches(frozen, rng)
    caps = dict(config.task_texts)
    tasks = {t: _sample(ids, y, labels, caps.get(t), rng) for t, (ids, y, labels) in tasks.items()}
    plan = [(t, b) for t, (ids, _, _) in tasks.items() for b in batches.plan(ids, config.batch_size)]
    total = int(len(plan) * config.epochs)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 100) * max(0.0, 1 - s / total))
    log(f"adapter: {sum(p.numel() for p in params):,} trainable parameters, {total:,} steps")
    start, step = time.perf_counter(), 0
    model.train()
    while step < total:
        epoch_plan = [(t, b) for t, (ids, _, _) in tasks.items() for b in batches.plan(ids, config.batch_size)]
        rng.shuffle(epoch_plan)
        for task, rows in epoch_plan[:total - step]:
            ids, y, _ = tasks[task]
            x, mask = batches.tensors(ids[rows])
            logits = model.heads[task](model.embed(x, mask) * config.logit_scale)
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[rows]).long())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % 200 == 0:
                log(f"step {step:,}/{total:,} ({task}) loss {loss.item():.3f}, {time.perf_counter() - start:.0f} s")
    model.eval()
    return model


def _sample(ids: np.ndarray, y: np.ndarray, labels: list[str], cap: int | None,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if cap is None or len(ids) <= cap:
        return ids, y, labels
    keep = np.sort(rng.choice(len(ids), cap, replace=False))
    return ids[keep], y[keep], labels


def adapted_vectors(model, frozen: FrozenStates, text_ids: np.ndarray, threads: int = 2) -> np.ndarray:
    """The adapted encoder's normalised vectors for cached texts (same as the ONNX encoder serves)."""
    torch = _torch()
    torch.set_num_threads(threads)
    batches = _Batches(frozen, np.random.default_rng(0))
    out = np.zeros((len(text_ids), 384), np.float32)
    with torch.no_grad():
        for rows in batches.plan(text_ids, 128, shuffle=False):
            x, mask = batches.tensors(text_ids[rows])
            out[rows] = model.embed(x, mask).numpy()
    return out
