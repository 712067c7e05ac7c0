"""Train and cross-validate a classifier head from any labelled file.

``train_head`` fits a logistic regression over the shared encoder vectors and hashed n-grams,
picks its regularisation by stratified k-fold cross-validation, fits a temperature on the
out-of-fold scores (calibration), and keeps the out-of-fold metrics and precision curve in the
head's metadata, where the policy finds them. The same function reproduces the shipped heads
and retrains on a platform's own moderators' decisions.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from townsquare.errors import InputError
from townsquare.safety.features import TextBatch
from townsquare.safety.heads import (
    LinearHead,
    design_matrix,
    fit_temperature,
    head_from_sklearn,
    softmax,
    text_keys,
)
from townsquare.safety.metrics import classification_metrics, precision_curve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    """How a head is trained; the defaults are what the shipped heads use."""

    folds: int = 5
    use_vectors: bool = True
    use_ngrams: bool = True
    use_lexicon: bool = False  # VADER's sentiment scores as six more features (see ``lexicon_features``)
    keep_ngrams: int = 20000
    c_grid: tuple[float, ...] = (1.0, 4.0, 16.0)
    max_iter: int = 200
    class_weight: str | None = None  # "balanced": every class weighs the same (for macro metrics)
    seed: int = 0
    jobs: int = 2  # logistic regressions fitted at once (one core each)
    parallel_from: int = 5000  # texts; below this, worker processes cost more than they save
    compare_on_all_below: int = 10000  # texts; below this every C runs every fold (see ``out_of_fold``)


@dataclass
class TrainResult:
    head: LinearHead
    cv_metrics: dict[str, Any]
    oof_probs: np.ndarray
    seconds: float


def load_labelled(path: Path, text_column: str = "text", label_column: str = "label") -> tuple[list[str], list[str]]:
    """Texts and labels from canonical labelled JSONL, or CSV/TSV with named text and label columns."""
    texts, labels, _ = load_labelled_lines(path, text_column, label_column)
    return texts, labels


def load_labelled_lines(path: Path, text_column: str = "text",
                        label_column: str = "label") -> tuple[list[str], list[str], list[int]]:
    """``load_labelled`` with the file's line of each text (blank lines and a header counted), for errors."""
    from townsquare.ingest.jsonl import read_labelled_jsonl
    from townsquare.ingest.tabular import read_labelled_table

    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        records = read_labelled_table(path, text_column, label_column, located=True)
    else:
        records = read_labelled_jsonl(path, located=True)
    texts, labels, lines = [], [], []
    for record, _source, line in records:
        texts.append(record.text)
        labels.append(record.label)
        lines.append(line)
    if not texts:
        raise InputError("has no labelled texts", source=str(path))
    return texts, labels, lines


def encode_labels(labels: Sequence[str], known: Sequence[str] | None = None,
                  source: str | None = None, lines: Sequence[int] | None = None) -> tuple[np.ndarray, list[str]]:
    """Label indices into ``known`` (else the labels sorted). An unknown label is an error naming the first
    text that has it: by its line in ``source`` when ``lines`` (``load_labelled_lines``) are given."""
    names = list(known) if known is not None else sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        first = next(i for i, label in enumerate(labels) if label not in index)
        where = f"on line {lines[first]}" if lines is not None else f"in labelled text {first + 1}"
        raise InputError(f"labels {unknown[:5]} are not labels of this classifier ({', '.join(names)}); the first "
                         f"is {where} ({labels[first]!r})", source=source,
                         line=lines[first] if lines is not None else None, field="label")
    return np.array([index[v] for v in labels]), names


def check_trainable(y: np.ndarray, labels: list[str], folds: int, source: str | None = None) -> None:
    counts = Counter(y.tolist())
    if len(counts) < 2:
        raise InputError("needs at least two different labels to train a classifier", source=source, field="label")
    rare = [labels[k] for k, n in counts.items() if n < folds]
    if rare:
        raise InputError(f"labels {rare[:5]} have fewer examples than --folds {folds}; add examples, merge "
                         "those labels or lower --folds", source=source, field="label")


def _model(c: float, options: TrainOptions) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=options.max_iter, tol=1e-3, class_weight=options.class_weight)


def out_of_fold(batch: TextBatch, y: np.ndarray, labels: list[str],
                options: TrainOptions) -> tuple[np.ndarray, float, LinearHead]:
    """Out-of-fold logits of the (pruned) head for every text by stratified k-fold, the C used, and
    the head fitted on every text with that C (lowest log loss, after a temperature per fold).

    Below ``options.compare_on_all_below`` texts every C runs every fold and C is judged on all the
    out-of-fold scores: on TweetEval sentiment (2,000 texts) the first fold alone picked C=4, whose
    5-fold log loss (0.751) and macro-recall (0.655) were worse than C=1's (0.746, 0.678). Above it
    the fits cost minutes, so every C is tried on the first fold and the best runs the others. The
    fits of each round run in parallel (``options.jobs``; scikit-learn's solvers use one core each)."""
    x, columns = design_matrix(batch, options.use_vectors, options.use_ngrams, options.use_lexicon)
    dim = batch.vectors.shape[1] if options.use_vectors else 0
    splits = list(StratifiedKFold(options.folds, shuffle=True, random_state=options.seed).split(np.zeros(len(y)), y))

    def head_of(model) -> LinearHead:
        return head_from_sklearn(model, labels, dim, options.use_vectors, options.keep_ngrams, columns,
                                 options.use_lexicon)

    def fold_logits(model, test_idx: np.ndarray) -> np.ndarray:
        return head_of(model).logits(_subset(batch, test_idx))

    def judged(found: np.ndarray, test_idx: np.ndarray) -> float:
        return _log_loss(softmax(found / fit_temperature(found, y[test_idx])), y[test_idx])

    # the folds that judge C: all of them for small data, else the first (the others run the chosen C only)
    judging = splits if len(y) < options.compare_on_all_below else splits[:1]
    rest = splits[len(judging):]
    fits = iter(_fit_all(x, y, [(train, c) for c in options.c_grid for train, _ in judging], options))
    best = None
    for c in options.c_grid:
        found = np.zeros((len(y), len(labels)), np.float32)  # the other folds' rows are filled below
        for _, test_idx in judging:
            found[test_idx] = fold_logits(next(fits), test_idx)
        loss = sum(judged(found[t], t) * len(t) for _, t in judging) / sum(len(t) for _, t in judging)
        log.info("C=%s log loss %.4f over %d fold(s)", c, loss, len(judging))
        if best is None or loss < best[0]:
            best = (loss, c, found)
    assert best is not None
    _, chosen, logits = best
    *fold_models, final = _fit_all(x, y, [(train, chosen) for train, _ in rest] + [(np.arange(len(y)), chosen)], options)
    for (_, test_idx), model in zip(rest, fold_models):
        logits[test_idx] = fold_logits(model, test_idx)
    return logits, chosen, head_of(final)


def _fit_all(x, y: np.ndarray, jobs: list[tuple[np.ndarray, float]], options: TrainOptions) -> list[LogisticRegression]:
    """One logistic regression per (rows, C), fitted in ``options.jobs`` worker processes when the data is
    big enough to repay starting them (the solver holds the GIL: threads ran no faster). On 25,000
    texts with 5 folds, two processes cut the fitting from 270 s to 196 s with the same heads."""
    workers = min(options.jobs, len(jobs)) if x.shape[0] >= options.parallel_from else 1
    return Parallel(n_jobs=workers)(delayed(_model(c, options).fit)(x[rows], y[rows]) for rows, c in jobs)


def _subset(batch: TextBatch, index: np.ndarray) -> TextBatch:
    sub = TextBatch([batch.texts[i] for i in index])
    if "vectors" in batch.__dict__:
        sub.__dict__["vectors"] = batch.vectors[index]
    if "ngrams" in batch.__dict__:
        sub.__dict__["ngrams"] = batch.ngrams[index]
    if "lexicon" in batch.__dict__:
        sub.__dict__["lexicon"] = batch.lexicon[index]
    return sub


def _log_loss(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None))))


def _finish(head: LinearHead, names: list[str], y: np.ndarray, probs: np.ndarray, c: float,
            options: TrainOptions, calibrated_on: str, train_y: np.ndarray) -> dict[str, Any]:
    """Record what the policy and the model card need in the head; returns the metrics.

    ``y`` / ``probs`` are the held-out (or out-of-fold) labels and scores; ``train_y`` the
    training labels."""
    metrics = classification_metrics(probs, y, names)
    head.meta.update({
        "C": c, "folds": options.folds, "calibrated_on": calibrated_on, "cv_where": calibrated_on,
        "label_counts": {names[k]: int(n) for k, n in sorted(Counter(train_y.tolist()).items())},
        "cv_metrics": {k: v for k, v in metrics.items() if k != "reliability"},
        "precision_curves": {name: precision_curve(probs[:, k], y == k) for k, name in enumerate(names)},
        "features": [f for f, on in (("encoder", options.use_vectors), ("lexicon", options.use_lexicon),
                                     ("ngrams", options.use_ngrams)) if on],
        "class_weight": options.class_weight,
    })
    return metrics


def train_head(batch: TextBatch, labels: Sequence[str], options: TrainOptions = TrainOptions(),
               *, known_labels: Sequence[str] | None = None, source: str | None = None) -> TrainResult:
    """Stratified k-fold (C picked on the first fold), fit on everything, calibrate the
    temperature on the out-of-fold scores; metrics and precision curves are out-of-fold."""
    start = time.perf_counter()
    y, names = encode_labels(labels, known_labels, source)
    check_trainable(y, names, options.folds, source)
    oof_logits, c, head = out_of_fold(batch, y, names, options)
    head.temperature = fit_temperature(oof_logits, y)
    oof_probs = softmax(oof_logits / head.temperature)
    head.meta["n_train"], head.seen = len(y), text_keys(batch.texts)
    metrics = _finish(head, names, y, oof_probs, c, options, f"{options.folds}-fold out-of-fold scores", y)
    return TrainResult(head, metrics, oof_probs, time.perf_counter() - start)


def train_head_holdout(batch: TextBatch, labels: Sequence[str], calibration: TextBatch,
                       calibration_labels: Sequence[str], options: TrainOptions = TrainOptions(),
                       ngram_choices: tuple[bool, ...] = (False, True),
                       weight_choices: tuple[str | None, ...] = (None,), select_by: str = "log_loss",
                       lexicon_choices: tuple[bool, ...] = (False,)) -> TrainResult:
    """For texts the encoder was trained on: fit on ``batch``; choose C, n-grams, lexicon and class
    weights by ``select_by`` (log loss, or a metric such as macro_f1) on the held-out
    ``calibration`` texts the encoder never saw, and calibrate the temperature there."""
    start = time.perf_counter()
    y, names = encode_labels(labels)
    cal_y, _ = encode_labels(calibration_labels, names)
    best: tuple[float, LinearHead, TrainOptions, float] | None = None
    for use_ngrams, use_lexicon in itertools.product(ngram_choices, lexicon_choices):
        x, columns = design_matrix(batch, options.use_vectors, use_ngrams, use_lexicon)
        dim = batch.vectors.shape[1] if options.use_vectors else 0
        for weight in weight_choices:
            chosen = TrainOptions(**{**options.__dict__, "use_ngrams": use_ngrams, "use_lexicon": use_lexicon,
                                     "class_weight": weight})
            for c in chosen.c_grid:
                head = head_from_sklearn(_model(c, chosen).fit(x, y), names, dim, chosen.use_vectors,
                                         chosen.keep_ngrams, columns, use_lexicon)
                logits = head.logits(calibration)
                head.temperature = fit_temperature(logits, cal_y)
                probs = softmax(logits / head.temperature)
                loss = (_log_loss(probs, cal_y) if select_by == "log_loss"
                        else -classification_metrics(probs, cal_y, names)[select_by])
                log.info("ngrams=%s lexicon=%s weight=%s C=%s held-out %s %.4f", use_ngrams, use_lexicon, weight,
                         c, select_by, loss)
                if best is None or loss < best[0]:
                    best = (loss, head, chosen, c)
    assert best is not None
    _, head, chosen, c = best
    probs = head.predict_proba(calibration)
    head.meta["n_train"], head.seen = len(y), text_keys([*batch.texts, *calibration.texts])
    metrics = _finish(head, names, cal_y, probs, c, chosen, "held-out calibration split", y)
    return TrainResult(head, metrics, probs, time.perf_counter() - start)
