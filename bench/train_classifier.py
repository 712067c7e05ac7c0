"""Training a new classifier on 25,000 labelled texts with 5-fold cross-validation (goal: under 5 minutes).

    python bench/train_classifier.py --data /work/shared/data [--n 25000] [--folds 5]

Builds one labelled file from the train splits of TweetEval offensive, LIAR and CONSTRAINT (10
labels, each prefixed by its dataset, shuffled with a fixed seed, the first ``--n``), then runs
``townsquare train classifier bench25k --data FILE --folds K --json`` as a user would, in a new
data folder: the encoder's ONNX graph is built there first, so the wall time includes it. Prints one
JSON object: the wall seconds of the command, the seconds the command reports for training
(embedding, n-grams and the cross-validated fits), and its out-of-fold macro-F1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from townsquare.ingest.datasets.constraint import read_constraint
from townsquare.ingest.datasets.liar import read_liar
from townsquare.ingest.datasets.tweeteval import read_tweeteval


def labelled_texts(data: Path, n: int, seed: int = 0) -> list[dict[str, str]]:
    rows = [{"text": r.text, "label": f"offensive:{r.label}"}
            for r in read_tweeteval(data / "tweeteval", task="offensive", split="train")]
    rows += [{"text": r.text, "label": f"liar:{r.label}"} for r in read_liar(data / "liar", split="train")]
    rows += [{"text": r.text, "label": f"constraint:{r.label}"}
             for r in read_constraint(data / "constraint-covid19-fakenews", split="train")]
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} labelled texts under {data}, asked for {n}")
    random.Random(seed).shuffle(rows)
    return rows[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder (tweeteval, liar, constraint)")
    parser.add_argument("--n", type=int, default=25000)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    rows = labelled_texts(args.data, args.n)
    with tempfile.TemporaryDirectory(prefix="ts-bench-train-") as tmp:
        path = Path(tmp) / "labelled.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        command = [sys.executable, "-m", "townsquare", "--data-dir", str(Path(tmp) / "data"), "train", "classifier",
                   "bench25k", "--data", str(path), "--folds", str(args.folds), "--json"]
        start = time.perf_counter()
        done = subprocess.run(command, check=False, capture_output=True, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"townsquare train classifier failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    print(json.dumps({
        "texts": len(rows), "labels": len({r["label"] for r in rows}), "folds": args.folds,
        "wall_s": round(wall, 1), "reported_s": report.get("seconds"), "goal_s": 300,
        "macro_f1_out_of_fold": report.get("macro_f1"), "cpus": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
