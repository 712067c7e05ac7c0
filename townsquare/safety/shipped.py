"""``townsquare train moderation-models``: reproduce the shipped adapter, heads and model cards.

Protocol (the test splits are never read):
- offensive, hate, emotion (TweetEval), misinfo_claims (LIAR, statement text only) and
  misinfo_posts (CONSTRAINT): the adapter trains on 90% of each train split; heads are fitted on
  the same 90%, then C, n-grams and the temperature are chosen on the other 10%; the reported
  numbers are on the validation split.
- sentiment (TweetEval): only its validation split is available here, so its head is trained on
  it with 5-fold cross-validation, and the reported numbers are out-of-fold. The adapter never
  sees sentiment data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from townsquare.safety.encoder import ModerationEncoder, read_adapter, save_adapter
from townsquare.safety.features import TextBatch
from townsquare.safety.finetune import (
    AdapterConfig,
    FrozenStates,
    export_adapter,
    frozen_states,
    states_folder,
    train_adapter,
)
from townsquare.safety.metrics import classification_metrics
from townsquare.safety.pipeline import model_card
from townsquare.safety.report import write_report
from townsquare.safety.train import TrainOptions, encode_labels, train_head, train_head_holdout

Log = Callable[[str], None]
ADAPTED_TASKS = ("offensive", "hate", "emotion", "misinfo_claims", "misinfo_posts")
LIMITS = {
    "offensive": "OffensEval 2019 tweets (2019, English, US politics heavy). Profanity between friends and "
                 "reclaimed slurs are often flagged; sarcasm is often missed.",
    "hate": "HatEval 2019: hate against immigrants and women only, English tweets. The official test split "
            "is known to differ from train/validation: expect lower scores on new data than measured here.",
    "emotion": "SemEval-2018 Affect in Tweets, four emotions only (anger, joy, optimism, sadness); "
               "every text gets one of them, neutral texts included.",
    "misinfo_claims": "LIAR: short US political claims checked by PolitiFact (2007-2016), statement text only. "
                      "Six-way truth is barely learnable from text: use as a weak risk signal, never as a verdict.",
    "misinfo_posts": "CONSTRAINT 2021: COVID-19 posts only; 'real' posts are mostly from official accounts, "
                     "so style (links, sources, numbers) carries much of the signal. Not a general fact checker.",
    "sentiment": "SemEval-2017 tweets; trained on the 2,000-tweet validation split only (the train split is "
                 "not available here).",
}
# What each head is chosen for on the held-out calibration split: the task's own metric.
SELECT_BY = {"offensive": "macro_f1", "hate": "macro_f1", "emotion": "macro_f1", "misinfo_claims": "accuracy",
             "misinfo_posts": "weighted_f1", "sentiment": "macro_recall"}
DATA = {
    "offensive": "TweetEval offensive (OffensEval 2019)", "hate": "TweetEval hate (HatEval 2019)",
    "emotion": "TweetEval emotion (SemEval-2018)", "misinfo_claims": "LIAR (Wang 2017), statement text",
    "misinfo_posts": "CONSTRAINT@AAAI-2021 COVID-19 fake news (English)", "sentiment": "TweetEval sentiment (SemEval-2017)",
}


@dataclass(frozen=True)
class ShippedDatasets:
    tweeteval: Path
    liar: Path
    constraint: Path

    def read(self, task: str, split: str) -> tuple[list[str], list[str]]:
        from townsquare.ingest.datasets import read_constraint, read_liar, read_tweeteval

        if task == "misinfo_claims":
            records: Iterable = read_liar(self.liar, split=split)
        elif task == "misinfo_posts":
            records = read_constraint(self.constraint, split=split)
        else:
            records = read_tweeteval(self.tweeteval, task=task, split=split)
        texts, labels = [], []
        for r in records:
            texts.append(r.text)
            labels.append(r.label)
        return texts, labels


@dataclass
class Split:
    texts: list[str]
    labels: list[str]


def _splits(datasets: ShippedDatasets, seed: int) -> dict[str, dict[str, Split]]:
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, Split]] = {}
    for task in ADAPTED_TASKS:
        texts, labels = datasets.read(task, "train")
        order = rng.permutation(len(texts))
        held = set(order[:len(texts) // 10].tolist())
        out[task] = {
            "train": Split([t for i, t in enumerate(texts) if i not in held], [v for i, v in enumerate(labels) if i not in held]),
            "calibration": Split([texts[i] for i in sorted(held)], [labels[i] for i in sorted(held)]),
            "val": Split(*datasets.read(task, "val")),
        }
    out["sentiment"] = {"val": Split(*datasets.read("sentiment", "val"))}
    return out


def _states(texts: list[str], config: AdapterConfig, cache: Path | None, threads: int, log: Log) -> FrozenStates:
    if cache is not None:
        cached = FrozenStates.load(states_folder(cache, config))
        if cached is not None and set(texts) <= set(cached.texts):
            log(f"frozen layers: reusing {cache}")
            return cached
    frozen = frozen_states(texts, config, threads, log)
    if cache is not None:
        frozen.save(states_folder(cache, config))
    return frozen


def train_shipped_models(datasets: ShippedDatasets, out_dir: Path, *, epochs: float = 2.0, seed: int = 0,
                         reports: Path | None = None, states_cache: Path | None = None, threads: int = 2,
                         config: AdapterConfig | None = None, adapter: Path | None = None,
                         int8: bool = True, cache_dir: Path | None = None, log: Log = print) -> dict[str, Any]:
    """Train the adapter (or reuse ``adapter``) and all heads; write them with cards to ``out_dir``.

    The heads read their vectors from the served encoder (the adapter merged, onnxruntime), so
    the numbers measured here are those of the shipped classifiers. ``int8``: the encoder is
    served quantised (a reused ``adapter`` is copied to ``out_dir`` with that setting if it differs).
    """
    start = time.perf_counter()
    config = config or AdapterConfig(epochs=epochs, seed=seed, int8=int8)
    splits = _splits(datasets, seed)
    everything = sorted({t for parts in splits.values() for s in parts.values() for t in s.texts})
    summary: dict[str, Any] = {}
    # what each model card says reproduces it: the adapter trained again, or the heads refitted on it
    command = ("townsquare train moderation-models --tweeteval DIR/tweeteval --liar DIR/liar "
               "--constraint DIR/constraint-covid19-fakenews --out townsquare/safety/shipped"
               + (f" --epochs {config.epochs:g}" if adapter is None
                  else " --adapter townsquare/safety/shipped/encoder_adapter.npz")
               + ("" if config.int8 else " --fp32"))
    if adapter is None:
        adapter = _train_adapter(splits, everything, config, out_dir, states_cache, threads, log)
        summary["adapter_seconds"] = read_adapter(adapter)[0]["trained_seconds"]
    else:
        meta, arrays = read_adapter(adapter)
        if bool(meta.get("int8", False)) != config.int8:  # the same adapter, served the other way
            adapter = save_adapter(out_dir / "encoder_adapter.npz", {**meta, "int8": config.int8}, arrays)
    summary["adapter_kb"] = adapter.stat().st_size // 1024
    encoder = ModerationEncoder(adapter, threads=threads, cache_dir=cache_dir)
    embed_start = time.perf_counter()
    vectors = encoder.embed(everything)
    summary["embed_seconds"] = round(time.perf_counter() - embed_start)
    log(f"encoder: {len(everything):,} texts embedded in {summary['embed_seconds']} s")
    index = {t: i for i, t in enumerate(everything)}

    def batch(task: str, split: str) -> TextBatch:
        texts = splits[task][split].texts
        return TextBatch(texts, vectors=vectors[[index[t] for t in texts]])

    version = str(encoder.meta["version"])
    for task in (*ADAPTED_TASKS, "sentiment"):
        summary[task] = _ship_head(task, splits[task], batch, out_dir, reports, version,
                                   encoder.model_id, log, command)
    summary["seconds"] = round(time.perf_counter() - start)
    return summary


def _train_adapter(splits: dict[str, dict[str, Split]], everything: list[str], config: AdapterConfig,
                   out_dir: Path, states_cache: Path | None, threads: int, log: Log) -> Path:
    version = datetime.now(UTC).strftime("%Y%m%d")
    if config.epochs <= 0:  # no adaptation: the encoder is MiniLM's first ``num_layers`` layers as they are
        meta = {"version": f"{version}-base", "base": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384,
                "num_layers": config.num_layers, "int8": config.int8, "scale": 0.0, "max_length": config.max_length,
                "trained_seconds": 0, "config": {**config.__dict__, "task_texts": dict(config.task_texts)}}
        path = save_adapter(out_dir / "encoder_adapter.npz", meta, {})
        log(f"adapter: none trained (epochs 0); the encoder is MiniLM's first {config.num_layers} layers")
        return path
    frozen = _states(everything, config, states_cache, threads, log)
    index = frozen.index()
    tasks = {}
    for task in ADAPTED_TASKS:
        train = splits[task]["train"]
        y, names = encode_labels(train.labels)
        tasks[task] = (np.array([index[t] for t in train.texts]), y, names)
    adapter_start = time.perf_counter()
    model = train_adapter(frozen, tasks, config, threads, log)
    seconds = time.perf_counter() - adapter_start
    meta, arrays = export_adapter(model, config, version)
    meta["trained_seconds"] = round(seconds)
    path = save_adapter(out_dir / "encoder_adapter.npz", meta, arrays)
    log(f"adapter: {path} ({path.stat().st_size / 1024:.0f} KB) in {seconds:.0f} s")
    return path


def _ship_head(task: str, parts: dict[str, Split], batch, out_dir: Path, reports: Path | None, version: str,
               encoder: str, log: Log, command: str) -> dict[str, Any]:
    head_start = time.perf_counter()
    if task == "sentiment":
        measured = batch(task, "val")
        result = train_head(measured, parts["val"].labels,
                            TrainOptions(folds=5, class_weight="balanced", use_lexicon=True, c_grid=(0.25, 1.0, 4.0)))
        head, probs = result.head, result.oof_probs
        where = "5-fold CV on the validation split (the only split here)"
    else:
        result = train_head_holdout(batch(task, "train"), parts["train"].labels, batch(task, "calibration"),
                                    parts["calibration"].labels, TrainOptions(c_grid=(0.25, 1.0, 4.0)),
                                    weight_choices=(None, "balanced"), lexicon_choices=(False, True),
                                    select_by=SELECT_BY[task])
        head = result.head
        measured = batch(task, "val")
        probs = head.predict_proba(measured)
        where = "validation split (never used in training)"
    labels = parts["val"].labels
    y, _ = encode_labels(labels, head.labels)
    metrics = classification_metrics(probs, y, head.labels)
    head.meta.update({"name": task, "data": DATA[task], "encoder": encoder, "version": version,
                      "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
                      "seconds": time.perf_counter() - head_start, "limits": LIMITS[task],
                      "heldout_metrics": {k: v for k, v in metrics.items() if k != "reliability"},
                      "heldout_name": where})
    path = head.save(out_dir / f"{task}.npz")
    path.with_suffix(".md").write_text(model_card(task, head, command=command), encoding="utf-8")
    if reports is not None:
        write_report(reports / task, f"{task}: {where}", metrics, probs, y, {"classifier": task, "data": DATA[task]})
    keys = ("macro_f1", "weighted_f1", "macro_recall", "accuracy", "auc", "ece")
    log(f"{task}: " + ", ".join(f"{k} {metrics[k]:.4f}" for k in keys if metrics[k] is not None)
        + f" ({where}); {path.stat().st_size / 1024:.0f} KB")
    return {"where": where, **{k: metrics[k] for k in keys}, "kb": path.stat().st_size // 1024,
            "features": head.meta.get("features"), "C": head.meta.get("C")}
