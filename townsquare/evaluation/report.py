"""The report beside the JSON: a PNG with the plots and an HTML page embedding it, every number in tables."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

ACCURACY_PLOT = ("ndcg", "recall", "precision", "map", "mrr", "hit")
BEYOND_PLOT = ("coverage", "gini_items", "ild", "novelty")


def _bars(ax, result: dict[str, Any], metrics: list[str], source: str, title: str) -> None:
    import numpy as np

    models = list(result["models"])
    present = [m for m in metrics if any(m in _values(result, name, source) for name in models)]
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(present))
    for i, name in enumerate(models):
        values = _values(result, name, source)
        means = [values.get(m, 0.0) for m in present]
        errors = [values.get("std", {}).get(m, 0.0) for m in present]
        ax.bar(x + i * width - 0.4 + width / 2, means, width, yerr=errors, capsize=2, label=name)
    ax.set_xticks(x, present, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def _values(result: dict[str, Any], name: str, source: str) -> dict[str, Any]:
    entry = result["models"][name]
    return entry.get("cold_start", {}) if source == "cold" else entry


def plot_png(result: dict[str, Any]) -> bytes:
    """Three panels: accuracy, cold-start accuracy, exposure and diversity (mean ± std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = result["protocol"]["k"]
    fig, axes = plt.subplots(3, 1, figsize=(11, 11), constrained_layout=True)
    _bars(
        axes[0],
        result,
        [f"{m}@{k}" for m in ACCURACY_PLOT],
        "warm",
        f"{result['dataset']['name']}, protocol {result['protocol']['name']}: "
        "accuracy (mean ± std over seeds)",
    )
    _bars(
        axes[1],
        result,
        [f"{m}@{k}" for m in ACCURACY_PLOT],
        "cold",
        f"cold-start items ({result['protocol']['cold_item_share']:.0%} of items never seen in training)",
    )
    _bars(
        axes[2],
        result,
        [f"{m}@{k}" for m in BEYOND_PLOT if m != "novelty"],
        "warm",
        "catalogue coverage, Gini of item exposure, intra-list diversity",
    )
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6), fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _table(result: dict[str, Any], source: str) -> str:
    models = result["models"]
    first = next(iter(models.values()))
    keys = list((first["cold_start"] if source == "cold" else first)["std"])
    head = "".join(f"<th>{html.escape(key)}</th>" for key in keys)
    rows = []
    for name, entry in models.items():
        values = entry["cold_start"] if source == "cold" else entry
        cells = "".join(
            f"<td>{mean_std(values[key], values['std'][key], len(result['protocol']['seeds']))}</td>"
            if isinstance(values.get(key), float)
            else "<td></td>"
            for key in keys
        )
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return f"<table><tr><th>model</th>{head}</tr>{''.join(rows)}</table>"


def mean_std(mean: float, std: float, seeds: int) -> str:
    """"0.4950 ± 0.0031", or the mean alone from one seed (its spread is unknown, not 0)."""
    return f"{mean:.4f} ± {std:.4f}" if seeds > 1 else f"{mean:.4f}"


def _counts(dataset: dict[str, Any]) -> str:
    """"943 users, 1,682 items, 100,000 interactions" and the rest of the summary's counts, in words."""
    return ", ".join(f"{v:,} {k}" for k, v in dataset.items() if k != "name")


def render_html(result: dict[str, Any], png: bytes) -> str:
    image = base64.b64encode(png).decode("ascii")
    tuning = "".join(
        f"<li><b>{html.escape(name)}</b>: "
        + "; ".join(html.escape(str(t["params"])) for t in entry["tuning"])
        + "</li>"
        for name, entry in result["models"].items()
    )
    protocol = result["protocol"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>townsquare recommend eval</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}</style></head><body>
<h1>Recommendation: {html.escape(result["dataset"]["name"])}</h1>
<p>Protocol <b>{html.escape(protocol["name"])}</b> ({html.escape(protocol["description"])});
k={protocol["k"]}; seeds {protocol["seeds"]}; item vectors {html.escape(result["item_vectors"])};
social graph used: {protocol["social"]};
{result["seconds"]} s in all. Dataset: {html.escape(_counts(result["dataset"]))}.</p>
<img alt="metric plots" src="data:image/png;base64,{image}">
<h2>Test ({"mean ± std over seeds" if len(protocol["seeds"]) > 1 else "one seed"})</h2>{_table(result, "warm")}
<h2>Cold-start items</h2>{_table(result, "cold")}
<h2>Chosen hyperparameters per seed</h2><ul>{tuning}</ul></body></html>
"""


def write_report(result: dict[str, Any], json_path: Path) -> list[Path]:
    """``<name>.png`` and ``<name>.html`` beside ``json_path``."""
    png = plot_png(result)
    png_path, html_path = json_path.with_suffix(".png"), json_path.with_suffix(".html")
    png_path.write_bytes(png)
    html_path.write_text(render_html(result, png))
    return [png_path, html_path]
