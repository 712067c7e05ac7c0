"""File in, head or metrics out: what ``townsquare train classifier`` and ``eval classify`` run."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from townsquare.errors import InputError, check_writable_file
from townsquare.models.base import Embedder
from townsquare.safety.base import CLASSIFIER_NAME
from townsquare.safety.features import TextBatch
from townsquare.safety.heads import LinearHead
from townsquare.safety.metrics import classification_metrics
from townsquare.safety.registry import HeadClassifier, default_encoder, load_classifier
from townsquare.safety.report import check_writable_folder, write_report
from townsquare.safety.train import (
    TrainOptions,
    encode_labels,
    load_labelled,
    load_labelled_lines,
    train_head,
)

IN_SAMPLE = 0.05  # the share of an evaluation's texts a head trained on from which its numbers are called in-sample
SUMMARY_KEYS = ("macro_f1", "weighted_f1", "macro_recall", "accuracy", "auc", "ece")


def model_card(name: str, head: LinearHead, *, command: str, limits: str = "") -> str:
    """A head's model card (markdown): data, metrics, limits, how to reproduce it."""
    meta = head.meta
    cv = meta.get("cv_metrics", {})
    held_out = meta.get("heldout_metrics")
    lines = [f"# Model card: {name}", "", f"- labels: {', '.join(head.labels)}",
             f"- data: {meta.get('data', '?')}",
             f"- training texts: {meta.get('n_train', '?')} ({meta.get('label_counts', {})})",
             (f"- features: {', '.join(meta.get('features', []))} (encoder {meta.get('encoder', '?')}), "
              f"n-gram weights kept: {len(head.ngram_index)}"),
             f"- calibration: temperature {head.temperature:.3f} fitted on {meta.get('calibrated_on', '?')}",
             f"- trained: {meta.get('trained_at', '?')} in {meta.get('seconds', 0):.0f} s", "",
             "## Metrics", "", "| where | " + " | ".join(SUMMARY_KEYS) + " |",
             "|---|" + "---|" * len(SUMMARY_KEYS)]

    def row(where: str, m: dict[str, Any]) -> str:
        return f"| {where} | " + " | ".join("-" if m.get(k) is None else f"{m[k]:.4f}" for k in SUMMARY_KEYS) + " |"

    if cv:
        lines.append(row(meta.get("cv_where", f"{meta.get('folds', '?')}-fold out-of-fold scores"), cv))
    if held_out:
        lines.append(row(meta.get("heldout_name", "held-out split"), held_out))
    lines += ["", "## Limits", "", limits or meta.get("limits", "Measured only on the data above; texts from "
              "other communities, periods or languages will score differently. Retrain on your own "
              "moderators' decisions (`townsquare moderate export-decisions`)."),
              "", "## Reproduce", "", f"    {command}", ""]
    return "\n".join(lines)


def train_classifier_from_file(name: str, data: Path, out_dir: Path, *, folds: int = 5, text_column: str = "text",
                               label_column: str = "label", use_ngrams: bool = True, balanced: bool = False,
                               use_lexicon: bool = False, threads: int = 2, encoder: Embedder | None = None,
                               keep_labels: Callable[[Sequence[str]], None] | None = None) -> dict[str, Any]:
    """Train ``name`` on ``data``; writes NAME.npz, NAME.md and NAME-report/ in ``out_dir``. ``keep_labels``
    is called with the data's labels before anything is trained, to refuse labels that would break the
    policy in force."""
    if not CLASSIFIER_NAME.fullmatch(name):
        raise InputError(f"classifier name {name!r}: use letters, digits, '_' and '-' (at most 64), "
                         "as it names the head's file", field="name")
    check_writable_folder(out_dir, "out")  # before minutes of embedding, not after
    for path in (out_dir / f"{name}.npz", out_dir / f"{name}.md"):
        check_writable_file(path)
    if (out_dir / f"{name}-report").exists():
        check_writable_folder(out_dir / f"{name}-report", "out")
    start = time.perf_counter()
    texts, labels = load_labelled(data, text_column, label_column)
    if keep_labels is not None:
        keep_labels(sorted(set(labels)))
    encoder = encoder or default_encoder(threads)
    batch = TextBatch(texts, encoder)
    _ = batch.vectors
    embed_seconds = time.perf_counter() - start
    options = TrainOptions(folds=folds, use_ngrams=use_ngrams, use_lexicon=use_lexicon,
                           class_weight="balanced" if balanced else None)
    result = train_head(batch, labels, options, source=str(data))
    head = result.head
    head.meta.update({"name": name, "data": data.name, "encoder": encoder.model_id,
                      "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
                      "seconds": time.perf_counter() - start, "version": f"trained-{int(time.time())}"})
    path = head.save(out_dir / f"{name}.npz")
    command = (f"townsquare train classifier {name} --data {data} --folds {folds}" + (" --balanced" if balanced else "")
               + (" --lexicon" if use_lexicon else "") + ("" if use_ngrams else " --no-ngrams"))
    path.with_suffix(".md").write_text(model_card(name, head, command=command), encoding="utf-8")
    report = write_report(out_dir / f"{name}-report", f"{name}: {folds}-fold cross-validation on {data.name}",
                          result.cv_metrics, result.oof_probs, encode_labels(labels, head.labels)[0],
                          {"classifier": name, "data": str(data), "folds": folds})
    return {"name": name, "n": len(texts), "head": str(path), "report": str(report),
            "seconds": round(time.perf_counter() - start, 1), "embed_seconds": round(embed_seconds, 1),
            "fit_seconds": round(result.seconds, 1),
            **{k: result.cv_metrics[k] for k in SUMMARY_KEYS}, "per_class": result.cv_metrics["per_class"]}


def evaluate_classifier_on_file(name: str, data: Path, *, data_dir: Path | None = None, folds: int | None = None,
                                report: Path | None = None, text_column: str = "text", label_column: str = "label",
                                balanced: bool = False, use_lexicon: bool = False, threads: int = 2,
                                encoder: Embedder | None = None) -> dict[str, Any]:
    """Metrics of the trained classifier ``name`` on ``data`` (or, with ``folds``, of a fresh head
    cross-validated on ``data``)."""
    if report is not None:
        check_writable_folder(report)  # before the texts are classified, not after
    texts, labels, lines = load_labelled_lines(data, text_column, label_column)
    encoder = encoder or default_encoder(threads)
    if folds:
        options = TrainOptions(folds=folds, class_weight="balanced" if balanced else None, use_lexicon=use_lexicon)
        result = train_head(TextBatch(texts, encoder), labels, options, source=str(data))
        probs, names = result.oof_probs, result.head.labels
        title = f"{name}: {folds}-fold cross-validation on {data.name}"
    else:
        classifier = load_classifier(name, data_dir=data_dir, encoder=encoder)
        encode_labels(labels, classifier.labels, str(data), lines)  # an unknown label stops it before any text is read
        probs, names = classifier.classify(texts).probs, classifier.labels
        title = f"{name} on {data.name}"
    y, _ = encode_labels(labels, names, str(data), lines)
    metrics = classification_metrics(probs, y, names)
    metrics["classifier"], metrics["data"] = name, str(data)
    if not folds and isinstance(classifier, HeadClassifier):
        metrics["seen_in_training"] = round(classifier.head.seen_share(texts), 4)
        if metrics["seen_in_training"] >= IN_SAMPLE:
            in_sample = (f"{metrics['seen_in_training']:.0%} of these texts were in {name}'s training data, so "
                         "these numbers are in-sample and flatter it; measure on texts it has not seen, or "
                         "cross-validate a fresh head with --folds")
            metrics["warning"] = "; ".join(filter(None, [in_sample, metrics.get("warning")]))
            title += " (in-sample)"
    if folds:
        metrics["folds"] = folds
    if report is not None:
        metrics["report"] = str(write_report(report, title, metrics, probs, y, {"classifier": name, "data": str(data)}))
    return metrics
