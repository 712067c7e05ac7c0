"""What the moderation policy does on the bundled demo community, whose harmful posts are known.

    python bench/demo_moderation.py [--prevalence 0.2 0.1 0.05] [--policy FILE]

The demo marks its toxic, misleading and personal-data posts by construction (``demo_labels``).
Scores every original post and reply once, then applies the policy (the built-in one by default)
as it is and with each ``--prevalence`` stated for offensive and hate (a ``[prevalence]`` table,
see docs/safety.md): per setting, the thresholds chosen, how many toxic posts the offensive and
hate rules act on, how many other posts they act on, and the precision that gives; and how well
the misinformation heads rank the demo's misleading posts (ROC AUC: 0.5 is chance). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from sklearn.metrics import roc_auc_score

from townsquare.demo import build_community
from townsquare.safety import SafetyScorer, load_policy

WATCHED = ("offensive", "hate")


def with_prevalence(policy_text: str, share: float) -> str:
    """The policy with ``share`` stated for every watched label (the table goes before the first rule)."""
    table = "[prevalence]\n" + "".join(f"{name} = {{ {name} = {share} }}\n" for name in WATCHED) + "\n"
    head, sep, rules = policy_text.partition("[[rules]]")
    return head + table + sep + rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prevalence", type=float, nargs="*", default=[0.2, 0.1, 0.05, 0.02])
    parser.add_argument("--policy", type=Path, help="a policy file (default: the built-in one)")
    args = parser.parse_args()

    community = build_community(0)
    posts = [p for p in community.posts if p.kind != "repost"]
    toxic = [community.labels.get(p.id) == "toxic" for p in posts]
    scorer = SafetyScorer.load()
    results = scorer.score([p.text for p in posts])
    base = (args.policy.read_text(encoding="utf-8") if args.policy
            else (resources.files("townsquare.safety") / "default_policy.toml").read_text(encoding="utf-8"))
    out = {"posts": len(posts), "toxic": sum(toxic), "settings": []}
    with tempfile.TemporaryDirectory() as folder:
        for share in [None, *args.prevalence]:
            path = Path(folder) / "policy.toml"
            path.write_text(base if share is None else with_prevalence(base, share), encoding="utf-8")
            policy = load_policy(path, scorer.curves())
            counts = Counter()
            for is_toxic, result in zip(toxic, results):
                decision = policy.decide(result.scores, result.spans)
                counts[is_toxic, any(r.classifier in WATCHED for r in decision.reasons)] += 1
            hits, others = counts[True, True], counts[False, True]
            out["settings"].append({
                "prevalence": share or "held-out",
                "thresholds": [{"rule": f"{r.rule.classifier}/{r.rule.label} {r.rule.action}",
                                "threshold": round(r.threshold, 3), "precision": round(r.precision, 3),
                                "prevalence": round(r.prevalence, 3)}
                               for r in policy.rules if r.rule.classifier in WATCHED and r.precision is not None],
                "toxic_acted_on": hits, "others_acted_on": others,
                "precision": round(hits / max(hits + others, 1), 3)})
    misleading = np.array([community.labels.get(p.id) == "misleading" for p in posts])
    risk = {"misinfo_posts fake": [r.scores["misinfo_posts"]["fake"] for r in results],
            "misinfo_claims pants-fire + false": [r.scores["misinfo_claims"]["pants-fire"]
                                                  + r.scores["misinfo_claims"]["false"] for r in results]}
    out["misleading"] = {"posts": int(misleading.sum()),
                         "auc": {name: round(float(roc_auc_score(misleading, s)), 3) for name, s in risk.items()}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
