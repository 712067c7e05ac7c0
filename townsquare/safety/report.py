"""An evaluation report: metrics JSON with plots (confusion matrix, reliability, precision-recall)
and a small HTML page beside it."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

from townsquare.errors import InputError


def check_writable_folder(folder: Path, field: str = "report") -> None:
    """Make ``folder``, and say now (InputError) if files cannot be written in it: before the work, not after."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot write into {folder}: it is a file, not a folder; give a folder (it is made if "
                         "missing)", field=field)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot make the folder {folder}: {error.strerror}", field=field) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write into {folder}: no permission", field=field)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(metrics: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    matrix = np.array(metrics["confusion"])
    labels = metrics["labels"]
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(labels), 1.0 + 0.8 * len(labels)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(metrics: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    bins = metrics["reliability"]
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", label="this classifier")
    ax.set_xlabel("confidence (top label)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability, ECE {metrics['ece']:.3f}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_precision_recall(probs: np.ndarray, y: np.ndarray, labels: list[str], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    for k, label in enumerate(labels):
        if (y == k).any():
            precision, recall, _ = precision_recall_curve(y == k, probs[:, k])
            ax.plot(recall, precision, label=label)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("precision-recall per label")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(folder: Path, title: str, metrics: dict[str, Any], probs: np.ndarray, y: np.ndarray,
                 extra: dict[str, Any] | None = None) -> Path:
    """``metrics.json``, three PNG plots and ``index.html`` in ``folder``; returns the HTML path."""
    check_writable_folder(folder)
    data = {**(extra or {}), **metrics}
    (folder / "metrics.json").write_text(json.dumps(data, indent=2))
    plots = [plot_confusion(metrics, folder / "confusion.png"),
             plot_reliability(metrics, folder / "reliability.png"),
             plot_precision_recall(probs, y, metrics["labels"], folder / "precision_recall.png")]
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td>"
        f"<td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>" for label, m in metrics["per_class"].items())
    summary = "".join(f"<li>{key}: {metrics[key]:.4f}</li>" for key in
                      ("macro_f1", "weighted_f1", "macro_recall", "accuracy", "auc", "ece")
                      if metrics.get(key) is not None)
    context = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in (extra or {}).items())
    page = (f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1>"
            + (f"<p><strong>Warning:</strong> {html.escape(metrics['warning'])}.</p>" if metrics.get("warning") else "")
            + f"<ul>{context}</ul><h2>Summary (n = {metrics['n']})</h2><ul>{summary}</ul>"
            "<h2>Per class</h2><table border=1 cellpadding=4><tr><th>label</th><th>precision</th>"
            f"<th>recall</th><th>F1</th><th>support</th></tr>{rows}</table>"
            + "".join(f"<p><img src='{p.name}' alt='{p.stem}'></p>" for p in plots))
    (folder / "index.html").write_text(page, encoding="utf-8")
    return folder / "index.html"
