"""The whole ``eval recommend`` run on the synthetic community: function and CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from townsquare.errors import InputError
from townsquare.evaluation.recommend import run_recommend_eval

K = 5


def _run(community_file, tmp_path, **options):
    options.setdefault("workers", 1)
    return run_recommend_eval(
        "jsonl",
        community_file,
        options.pop("protocol", "recbole"),
        k=K,
        seeds=2,
        out=options.pop("out", tmp_path / "out" / "result.json"),
        vectors="tfidf",
        cold_share=0.3,
        **options,
    )


def test_every_model_side_by_side_with_lower_case_at_k_keys(community_file, tmp_path):
    result = _run(community_file, tmp_path)
    models = result["models"]
    assert list(models) == [
        "popularity",
        "als",
        "bpr",
        "ease",
        "itemknn",
        "rp3beta",
        "text",
        "social",
        "townsquare",
        "townsquare_without_social",
    ]
    for name, entry in models.items():
        for metric in (
            "precision",
            "recall",
            "ndcg",
            "map",
            "mrr",
            "hit",
            "coverage",
            "gini_items",
            "gini_authors",
            "ild",
            "novelty",
        ):
            assert 0.0 <= entry[f"{metric}@{K}"] <= (20.0 if metric == "novelty" else 1.0), (name, metric)
            assert f"{metric}@{K}" in entry["std"]
        assert f"recall@{K}" in entry["cold_start"] and len(entry["seeds"]) == 2
        assert all(t["configs"] >= 1 for t in entry["tuning"])
    assert result["protocol"] == {
        "name": "recbole",
        "description": result["protocol"]["description"],
        "k": K,
        "seeds": [0, 1],
        "refit_on_valid": True,
        "cold_item_share": 0.3,
        "social": True,
    }
    # one topic per user, told by the texts: personalised models beat popularity, text wins the cold items
    assert models["townsquare"][f"ndcg@{K}"] > models["popularity"][f"ndcg@{K}"]
    assert models["text"]["cold_start"][f"recall@{K}"] > models["als"]["cold_start"][f"recall@{K}"]
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["result.html", "result.json", "result.png"]
    assert json.loads((tmp_path / "out" / "result.json").read_text())["models"].keys() == models.keys()
    page = (tmp_path / "out" / "result.html").read_text()
    assert "data:image/png;base64," in page and "townsquare" in page


def test_a_subset_without_the_graph(community_file, tmp_path):
    result = _run(community_file, tmp_path, protocol="msr", social=False, models=("popularity", "townsquare"))
    assert list(result["models"]) == ["popularity", "townsquare"]
    assert result["protocol"]["social"] is False
    weights = result["models"]["townsquare"]["tuning"][0]["params"]
    assert set(weights) == {"ease", "als", "text", "text_knn", "social"} and weights["social"] == 0.0
    assert weights["text"] + weights["text_knn"] > 0  # text always takes part: it scores new items


def test_bad_options_are_refused(community_file, tmp_path):
    with pytest.raises(InputError, match="protocol"):
        _run(community_file, tmp_path, protocol="loo")
    with pytest.raises(InputError, match=r"unknown models \['foo'\]; models: popularity"):
        _run(community_file, tmp_path, models=("popularity", "foo"))
    with pytest.raises(InputError, match="field 'out': cannot write"):  # before any model runs
        _run(community_file, tmp_path, out=tmp_path)


def test_cli_prints_json_and_writes_the_report(community_file, tmp_path):
    import townsquare.cli.evaluate  # noqa: F401  (adds the eval group)
    from townsquare.cli import app

    out = tmp_path / "cli" / "r.json"
    runner = CliRunner()
    answer = runner.invoke(
        app,
        [
            "--data-dir",
            str(tmp_path / "data"),
            "eval",
            "recommend",
            "jsonl",
            str(community_file),
            "--protocol",
            "msr",
            "--seeds",
            "1",
            "--k",
            "5",
            "--json",
            "--out",
            str(out),
            "--vectors",
            "tfidf",
            "--models",
            "popularity,ease",
            "--no-social",
        ],
    )
    assert answer.exit_code == 0, answer.output
    printed = json.loads(answer.stdout[answer.stdout.index("{") :])
    assert list(printed["models"]) == ["popularity", "ease"] and "ndcg@5" in printed["models"]["ease"]
    assert out.is_file() and out.with_suffix(".html").is_file() and out.with_suffix(".png").is_file()


def test_seeds_in_parallel_processes_give_the_same_numbers(community_file, tmp_path):
    options = {"protocol": "msr", "social": False, "models": ("popularity", "ease", "itemknn")}
    alone = _run(community_file, tmp_path / "a", workers=1, **options)
    parallel = _run(community_file, tmp_path / "b", workers=2, **options)
    for name in options["models"]:
        assert alone["models"][name]["seeds"] == parallel["models"][name]["seeds"]


def test_the_result_tables_fit_80_columns_without_cutting_a_header_or_a_number():
    from rich.console import Console

    from townsquare.cli.evaluate import _tables

    metrics = ["ndcg@10", "recall@10", "precision@10", "map@10", "coverage@10", "novelty@10"]
    entry = {m: 0.12345 for m in metrics} | {"std": {m: 0.0123 for m in metrics}}
    entry["cold_start"] = {"recall@10": 0.05, "std": {"recall@10": 0.01}}
    result = {"protocol": {"k": 10, "name": "msr", "seeds": [0, 1, 2]}, "dataset": {"name": "movielens-100k"},
              "models": {name: entry for name in ("popularity", "als_factorisation", "content_tfidf_hybrid")}}
    console = Console(width=80, record=True)
    for table in _tables(result):
        console.print(table)
    text = console.export_text()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    assert all(m in text for m in metrics) and "cold recall@10" in text and text.count("0.1235±0.0123") == 18
    result["protocol"]["seeds"] = [0]  # one seed has no spread to show
    console = Console(width=80, record=True)
    for table in _tables(result):
        console.print(table)
    text = console.export_text()
    assert "±" not in text and "one seed" in text and text.count("0.1235") == 18
