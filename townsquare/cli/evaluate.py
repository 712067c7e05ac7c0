"""``townsquare eval recommend``: offline recommendation evaluation, in the shared ``eval`` group."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from townsquare.cli import settings_of
from townsquare.cli.groups import eval_app  # the group is shared with safety and interact

out = Console()


def _embedder(ctx: typer.Context, vectors: str):
    """The configured text embedder when the item vectors need one, or None (TF-IDF only)."""
    if vectors not in ("auto", "minilm", "minilm+tfidf"):
        return None
    from townsquare.errors import MissingDependencyError
    from townsquare.models import get_embedder

    try:
        return get_embedder(settings_of(ctx))
    except MissingDependencyError:
        if vectors == "auto":
            return None
        raise


@eval_app.command("recommend")
def recommend(
    ctx: typer.Context,
    dataset: Annotated[
        str,
        typer.Argument(
            help="A built-in social dataset (movielens-100k, lastfm-hetrec2011, "
            "mind) or 'jsonl' for a records file."
        ),
    ],
    path: Annotated[Path, typer.Argument(help="The dataset folder (or the JSONL file).")],
    protocol: Annotated[
        str, typer.Option(help="msr (Microsoft Recommenders 75/25) or recbole (8:1:1).")
    ] = "msr",
    k: Annotated[int, typer.Option("--k", help="List length for every @k metric.")] = 10,
    seeds: Annotated[int, typer.Option(help="Split seeds (0..n-1); results are mean ± std over them.")] = 3,
    output: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="JSON result file; the HTML + PNG report go beside "
            "it. Default: reports/recommend-DATASET-PROTOCOL.json",
        ),
    ] = None,
    social: Annotated[
        bool | None,
        typer.Option(
            "--social/--no-social", help="Use the follow graph (default: when the dataset has one)."
        ),
    ] = None,
    vectors: Annotated[
        str, typer.Option(help="Item text vectors: auto, minilm, tfidf or minilm+tfidf.")
    ] = "auto",
    models: Annotated[
        str | None, typer.Option(help="Comma-separated subset, e.g. popularity,ease,townsquare.")
    ] = None,
    cold_share: Annotated[float, typer.Option(help="Share of items held out as cold-start items.")] = 0.1,
    refit: Annotated[
        bool,
        typer.Option(
            "--refit/--no-refit", help="recbole: fit final models on train+valid (default) or on train only."
        ),
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the JSON result instead of a table.")
    ] = False,
) -> None:
    """Tune and score the baselines and townsquare's recommender side by side; write JSON + report."""
    from townsquare.evaluation.recommend import run_recommend_eval

    target = output or Path("reports") / f"recommend-{dataset}-{protocol}.json"
    chosen = tuple(m.strip() for m in models.split(",") if m.strip()) if models else None
    console = Console(stderr=True)
    if dataset == "mind":
        console.print("[yellow]note:[/] MIND is read as clicks with the same per-user split as the other data "
                      "sets: not MIND's own protocol (AUC, MRR, nDCG@5/10 within each impression), so these "
                      "numbers do not compare with published MIND results")
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=as_json,
    ) as progress:
        task = progress.add_task(f"{dataset} / {protocol}", total=None)

        def step(message: str) -> None:
            progress.update(task, description=message)
            if not as_json:
                progress.console.log(message)

        result = run_recommend_eval(
            dataset,
            path,
            protocol,
            k=k,
            seeds=seeds,
            out=target,
            social=social,
            vectors=vectors,
            embedder=_embedder(ctx, vectors),
            models=chosen,
            cold_share=cold_share,
            refit=refit,
            progress=step,
        )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for table in _tables(result):
        out.print(table)
    out.print(f"wrote {target}, {target.with_suffix('.html')} and {target.with_suffix('.png')}")


def _tables(result: dict) -> list[Table]:
    """Accuracy, then coverage, novelty and cold start: two tables of mean ± std that fit 80 columns."""
    from townsquare.evaluation.report import mean_std

    k, seeds = result["protocol"]["k"], len(result["protocol"]["seeds"])
    title = (f"{result['dataset']['name']} / {result['protocol']['name']}: "
             + (f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"))
    parts = [(title, [f"ndcg@{k}", f"recall@{k}", f"precision@{k}", f"map@{k}"]),
             ("beyond accuracy, and new items (cold start)", [f"coverage@{k}", f"novelty@{k}", f"cold recall@{k}"])]
    tables = []
    for caption, columns in parts:
        table = Table(Column("model", overflow="fold"), *(Column(c, no_wrap=True) for c in columns), title=caption)
        for name, entry in result["models"].items():
            cells = []
            for column in columns:
                scores = entry["cold_start"] if column.startswith("cold ") else entry
                key = column.removeprefix("cold ")
                cells.append(mean_std(scores[key], scores["std"][key], seeds).replace(" ± ", "±"))
            table.add_row(name, *cells)
        tables.append(table)
    return tables
