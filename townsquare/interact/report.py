"""The report beside ``eval replies``' JSON: a PNG of the ranking metrics per scorer and an HTML page
embedding it, with every number in tables and a few generated suggestions to read."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

RANKING = ("good_over_random", "good_over_adversarial", "recall_at_1", "mrr")
GENERATED = ("contexts", "closer_to_good_than_adversarial", "cosine_to_good", "scorer_score")


def _scorers(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: m for name, m in report["ranking"].items() if isinstance(m, dict)}


def plot_png(report: dict[str, Any]) -> bytes:
    """One bar group per ranking metric, one bar per scorer (cosine and each trained variant)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    scorers = _scorers(report)
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=110)
    width = 0.8 / max(len(scorers), 1)
    x = np.arange(len(RANKING))
    for i, (name, metrics) in enumerate(scorers.items()):
        ax.bar(x + i * width - 0.4 + width / 2, [metrics.get(m, 0.0) for m in RANKING], width, label=name)
    ax.set_xticks(x, RANKING, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(f"DailyDialog++ ranking, {report['contexts']} contexts (held-out folds)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value if value is not None else "-"))


def _table(rows: dict[str, dict[str, Any]], columns: tuple[str, ...], first: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns)
                   + "</tr>" for name, r in rows.items())
    return f"<table><tr><th>{html.escape(first)}</th>{head}</tr>{body}</table>"


def render_html(report: dict[str, Any], png: bytes) -> str:
    image = base64.b64encode(png).decode("ascii")
    generated = report.get("generated")
    section = ""
    if generated:
        error = (f"<p><b>No generated replies:</b> {html.escape(generated['generator_error'])}</p>"
                 if generated.get("generator_error") else "")
        examples = "".join(
            "<li><i>" + html.escape(" / ".join(e["context"])) + "</i><ul>"
            + "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in e.items() if k != "context")
            + "</ul></li>" for e in generated["examples"])
        section = (f"<h2>Top-1 suggestion per held-out context</h2><p>{html.escape(generated['protocol'])}</p>{error}"
                   + _table(generated["results"], GENERATED, "candidates") + f"<h3>Examples</h3><ul>{examples}</ul>")
    speed = report["scorer_throughput"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>townsquare replies eval</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}</style></head><body>
<h1>Reply suggestions: {html.escape(report["dataset"])}</h1>
<p>{report["contexts"]} contexts; {html.escape(report["ranking"]["protocol"])}. The scorer ranks
{speed["candidates_per_s"]} candidates/s, embedding included. {report["seconds"]} s in all.</p>
<img alt="ranking metrics" src="data:image/png;base64,{image}">
<h2>Ranking the 15 candidates of each context</h2>{_table(_scorers(report), (*RANKING, "contexts"), "scorer")}
{section}</body></html>
"""


def write_report(report: dict[str, Any], json_path: Path) -> list[Path]:
    """The JSON at ``json_path``, with ``<name>.png`` and ``<name>.html`` beside it."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    png = plot_png(report)
    png_path, html_path = json_path.with_suffix(".png"), json_path.with_suffix(".html")
    png_path.write_bytes(png)
    html_path.write_text(render_html(report, png), encoding="utf-8")
    return [json_path, png_path, html_path]
