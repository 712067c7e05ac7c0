"""Trust & safety commands: classify, train/eval classifiers, the moderation queue."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from townsquare.cli import app, err, open_store, settings_of
from townsquare.cli.groups import eval_app, train_app
from townsquare.errors import InputError, NotFoundError

out = Console()
moderate_app = typer.Typer(help="The moderation queue: score posts, review flagged ones, decide, appeal.",
                           no_args_is_help=True)
app.add_typer(moderate_app, name="moderate")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
PolicyOption = Annotated[Path | None, typer.Option(
    "--policy", help="Community policy file (TOML). Default: the policy in force (the safety_policy setting, "
                     "else the built-in one).")]
DataOption = Annotated[Path, typer.Option(
    "--data", help="Labelled JSONL ({text, label}), or CSV/TSV with text and label columns.")]
LexiconFlag = Annotated[bool, typer.Option(
    "--lexicon", help="Add VADER's sentiment lexicon scores as features (helps sentiment-like labels).")]
TextColumn = Annotated[str, typer.Option("--text-column", help="CSV/TSV column holding the text.")]
LabelColumn = Annotated[str, typer.Option("--label-column", help="CSV/TSV column holding the label.")]
Balanced = Annotated[bool, typer.Option(
    "--balanced", help="Weigh every label the same (better macro-F1 / macro-recall on skewed labels).")]


def safety_scorer(ctx: typer.Context, names: list[str] | None = None):
    """The safety classifiers (``names``, or all: shipped and trained in the data folder)."""
    from townsquare.safety.registry import SafetyScorer

    settings = settings_of(ctx)
    return SafetyScorer.load(names or None, data_dir=settings.data_dir, threads=settings.threads)


def community_policy(ctx: typer.Context, scorer, path: Path | None = None):
    """The policy file ``path``, else the policy in force (the ``safety_policy`` setting, else the built-in one)."""
    from townsquare.safety.policy import load_policy

    return load_policy(path or settings_of(ctx).safety_policy, scorer.curves())


@app.command("classify")
def classify(
    ctx: typer.Context,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to score; none: one text per line on stdin.")] = None,
    classifier: Annotated[list[str] | None, typer.Option(
        "--classifier", "-c", help="Only these classifiers (repeatable). Default: all.")] = None,
    policy: PolicyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Score texts with the trust & safety classifiers and say what the policy would do."""
    texts = texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise InputError("no texts: give them as arguments or one per line on stdin")
    if blank := [str(i) for i, text in enumerate(texts, 1) if not text.strip()]:
        raise InputError(f"text {', '.join(blank)} is empty: give each text some words")
    scorer = safety_scorer(ctx, classifier)
    rules = community_policy(ctx, scorer, policy) if not classifier else None
    for text, result in zip(texts, scorer.score(texts)):
        decision = rules.decide(result.scores, result.spans) if rules else None
        if as_json:
            row = {"text": text, "scores": result.scores, "spans": result.spans}
            if decision is not None:
                row["decision"] = {"action": decision.action, "factor": decision.factor, "review": decision.review,
                                   "labels": list(decision.labels), "reasons": decision.explain()}
            out.print_json(json.dumps(row, ensure_ascii=False))
            continue
        table = Table("classifier", "top label", "probability", title=text[:80], title_justify="left")
        for name, probs in result.scores.items():
            label = max(probs, key=probs.get)
            table.add_row(name, label, f"{probs[label]:.3f}")
        out.print(table)
        if decision is not None:
            out.print(f"policy: [bold]{decision.action}[/]" + "".join(f"\n  - {r}" for r in decision.explain()))


@train_app.command("classifier")
def train_classifier(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Classifier name, e.g. offensive, spam, or your own.")],
    data: DataOption,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Stratified cross-validation folds.")] = 5,
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
    ngrams: Annotated[bool, typer.Option(help="Use hashed word/character n-grams beside the encoder.")] = True,
    lexicon: LexiconFlag = False,
    balanced: Balanced = False,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Folder for NAME.npz and its card (default: DATA_DIR/models/safety).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train a classifier head on a labelled file, with cross-validated metrics and a report. Into the data
    folder (no --out), it must keep every label the policy in force acts on for NAME."""
    from townsquare.safety.pipeline import train_classifier_from_file
    from townsquare.safety.policy import check_policy_keeps_labels
    from townsquare.safety.registry import trained_dir

    settings = settings_of(ctx)
    in_force = out_dir is None or out_dir.resolve() == trained_dir(settings.data_dir).resolve()
    result = train_classifier_from_file(
        name, data, out_dir or trained_dir(settings.data_dir), folds=folds, text_column=text_column,
        label_column=label_column, use_ngrams=ngrams, use_lexicon=lexicon, balanced=balanced,
        threads=settings.threads,
        keep_labels=(lambda labels: check_policy_keeps_labels(settings.safety_policy, name, labels)) if in_force
        else None)
    if as_json:
        out.print_json(json.dumps(result))
        return
    out.print(f"trained [bold]{name}[/] on {result['n']:,} texts in {result['seconds']:.0f} s: "
              f"{folds}-fold macro-F1 {result['macro_f1']:.3f}, accuracy {result['accuracy']:.3f}, "
              f"ECE {result['ece']:.3f}\n  head: {result['head']}\n  report: {result['report']}")


@train_app.command("moderation-models")
def train_moderation_models(
    tweeteval: Annotated[Path, typer.Option(help="TweetEval `datasets` folder.")],
    liar: Annotated[Path, typer.Option(help="LIAR folder (train.tsv, valid.tsv).")],
    constraint: Annotated[Path, typer.Option(help="CONSTRAINT COVID-19 folder (Constraint_Train.csv, ...).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where the adapter, heads, cards and reports go.")],
    epochs: Annotated[float, typer.Option(help="Passes over the training data for the adapter.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    reports: Annotated[Path | None, typer.Option(help="Folder for per-classifier reports (plots, HTML).")] = None,
    states_cache: Annotated[Path | None, typer.Option(
        help="Folder to keep the frozen layers' outputs in between runs (about 1.5 GB).")] = None,
    adapter: Annotated[Path | None, typer.Option(
        help="Reuse this trained encoder_adapter.npz and only refit the heads.")] = None,
    int8: Annotated[bool, typer.Option(
        "--int8/--fp32", help="Serve the encoder quantised to int8 (about 1.4x faster; the heads are fitted "
                              "on its own vectors) or in fp32.")] = True,
) -> None:
    """Reproduce the shipped moderation models: the encoder adapter and every head (needs torch)."""
    from townsquare.safety.shipped import ShippedDatasets, train_shipped_models

    summary = train_shipped_models(ShippedDatasets(tweeteval, liar, constraint), out_dir, epochs=epochs, seed=seed,
                                   reports=reports, states_cache=states_cache, adapter=adapter, int8=int8,
                                   log=lambda line: out.print(line, highlight=False))
    out.print_json(json.dumps(summary))


@eval_app.command("classify")
def eval_classify(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Classifier to measure.")],
    data: DataOption,
    folds: Annotated[int | None, typer.Option(
        "--folds", min=2, help="Cross-validate a fresh head of this kind on FILE instead of scoring the trained one.")] = None,
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
    report: Annotated[Path | None, typer.Option("--report", help="Folder for the report (JSON, plots, HTML).")] = None,
    balanced: Balanced = False,
    lexicon: LexiconFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Measure a classifier on labelled data: macro-F1, per-class P/R/F1, accuracy, AUC, ECE, confusion."""
    from townsquare.safety.pipeline import evaluate_classifier_on_file

    settings = settings_of(ctx)
    metrics = evaluate_classifier_on_file(name, data, data_dir=settings.data_dir, folds=folds, report=report,
                                          text_column=text_column, label_column=label_column,
                                          balanced=balanced, use_lexicon=lexicon, threads=settings.threads)
    if metrics.get("warning"):
        err.print(f"[yellow]warning:[/] {metrics['warning']}", highlight=False)
    if as_json:
        out.print_json(json.dumps({k: v for k, v in metrics.items() if k != "reliability"}))
        return
    table = Table("label", "precision", "recall", "F1", "support", title=f"{name} on {data.name}")
    for label, m in metrics["per_class"].items():
        table.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    out.print(table)
    auc = "n/a" if metrics["auc"] is None else f"{metrics['auc']:.3f}"
    out.print(f"macro-F1 {metrics['macro_f1']:.4f}  accuracy {metrics['accuracy']:.4f}  AUC {auc}  "
              f"ECE {metrics['ece']:.4f}  report: {metrics.get('report', '-')}")


@moderate_app.command("score")
def moderate_score(
    ctx: typer.Context,
    post: Annotated[list[str] | None, typer.Option("--post", help="External post ids (repeatable).")] = None,
    rescore: Annotated[bool, typer.Option(help="Also re-score posts that already have scores.")] = False,
    policy: PolicyOption = None,
) -> None:
    """Score posts (default: every post not scored yet) and enqueue what the policy flags."""
    from townsquare.safety.queue import unscored_posts

    store = open_store(ctx)
    ids = [store.find_post(p)["id"] for p in post] if post else unscored_posts(store, rescore=rescore)
    if not ids:
        out.print("every post is scored already (--rescore to score them again)")
        return
    scorer = safety_scorer(ctx)
    score_and_say(store, ids, scorer, community_policy(ctx, scorer, policy))


def score_and_say(store, ids: list[int], scorer, policy) -> None:
    """Score posts, fill the queue, and say what the policy did."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from townsquare.safety.queue import score_posts

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=out, transient=True) as progress:
        task = progress.add_task("scoring posts for moderation", total=len(ids))
        report = score_posts(store, ids, scorer, policy, progress=lambda n: progress.advance(task, n))
    out.print(f"scored {_count(report.scored, 'post')} (actions: {_actions(report)}); "
              f"{_count(report.enqueued, 'new case')} in the queue"
              + (f"; {_count(report.refreshed, 'open case')} brought up to date" if report.refreshed else ""))


@moderate_app.command("redecide")
def moderate_redecide(ctx: typer.Context) -> None:
    """Apply the policy in force again to the stored scores (no model runs), after editing it: open cases
    take its suggested action and reasons, and posts it now flags get a case."""
    from townsquare.safety.queue import redecide_posts

    scorer = safety_scorer(ctx)  # its precision curves turn the policy's precisions into thresholds
    policy = community_policy(ctx, scorer)
    report = redecide_posts(open_store(ctx), policy, scorer.labels())
    if not report.scored:
        out.print("no post is scored yet: `townsquare moderate score` scores them under the policy in force")
        return
    out.print(f"decided {_count(report.scored, 'scored post')} under {policy.community!r} (actions: {_actions(report)}); "
              f"{_count(report.enqueued, 'new case')} in the queue, {_count(report.refreshed, 'open case')} "
              "brought up to date")


def _actions(report) -> str:
    """What a ``ScoreReport``'s policy did: "3 allow, 1 hide"."""
    return ", ".join(f"{n:,} {action}" for action, n in sorted(report.actions.items())) or "none"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


@moderate_app.command("queue")
def moderate_queue(
    ctx: typer.Context,
    status: Annotated[str, typer.Option(help="open, appealed, todo (both), decided, closed or all.")] = "open",
    limit: Annotated[int, typer.Option(min=1)] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Cases to skip (the next page: --offset LIMIT).")] = 0,
    classifier: Annotated[str | None, typer.Option(
        help="Only cases with a reason from this classifier (user_reports: the reported ones).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Flagged posts with their scores and reasons, appeals and the most urgent first (decided and closed
    ones the most recent first)."""
    from townsquare.safety.queue import list_cases

    cases = list_cases(open_store(ctx), status=status, limit=limit, offset=offset, classifier=classifier)
    if as_json:
        out.print_json(json.dumps(cases, default=str))
        return
    table = Table("case", "post", "status", "suggested", "reasons", "text", title=f"moderation queue ({status})")
    for case in cases:
        why = [r["why"] for r in case["reasons"]]
        if "appeal_reason" in case:
            why.append(f"@{case['appeal_by']} appeals {case['decided_by']}'s {case['decided']!r}: {case['appeal_reason']}")
        table.add_row(str(case["id"]), f"{case['post']}\n@{case['author']}", case["status"], case["suggested_action"],
                      "\n".join(why), case["text"][:80])
    out.print(table)


@moderate_app.command("decide")
def moderate_decide(
    ctx: typer.Context,
    cases: Annotated[list[int], typer.Argument(help="Case ids (see `townsquare moderate queue`): one or more.")],
    action: Annotated[str, typer.Option(help="allow, label, demote, review or hide.")],
    moderator: Annotated[str, typer.Option(help="Who decides (recorded with the time).")],
    label: Annotated[list[str] | None, typer.Option(
        help="CLASSIFIER=LABEL training label (repeatable). Default: implied by the action.")] = None,
    note: Annotated[str, typer.Option(help="Free-text note.")] = "",
) -> None:
    """Record a moderator's decision on each case (also resolves an open appeal), all in one transaction."""
    from townsquare.safety.queue import decide_cases

    labels = None
    if label:
        pairs = [item.split("=", 1) for item in label]
        if any(len(p) != 2 for p in pairs):
            raise InputError("--label takes CLASSIFIER=LABEL, e.g. --label offensive=offensive", field="label")
        labels = {k.strip(): v.strip() for k, v in pairs}
    known = safety_scorer(ctx).labels() if labels else None
    store = open_store(ctx)
    try:  # a moderator who is a user here may not decide on their own posts, from here as from the web
        moderator_user = int(store.find_user(moderator)["id"])
    except NotFoundError:
        moderator_user = None
    for result in decide_cases(store, cases, moderator, action, labels=labels, note=note,
                               known_labels=known, moderator_user=moderator_user):
        out.print(f"case {result['case_id']}: {action} by {result['moderator']} at {result['created_at']}; "
                  f"labels {result['labels']}")


@moderate_app.command("appeal")
def moderate_appeal(
    ctx: typer.Context,
    case: Annotated[int, typer.Argument(help="Case id.")],
    user: Annotated[str, typer.Option(help="The user who appeals (handle, external id or id).")],
    reason: Annotated[str, typer.Option(help="Why the decision should change (required).")] = "",
) -> None:
    """A user appeals a decision; the case returns to the queue as `appealed`."""
    from townsquare.safety.queue import appeal_case

    appeal_id = appeal_case(open_store(ctx), case, user, reason)
    out.print(f"appeal {appeal_id} on case {case} is open; decide it with `townsquare moderate decide {case}`")


@moderate_app.command("export-decisions")
def moderate_export(
    ctx: typer.Context,
    classifier: Annotated[str, typer.Argument(help="Whose labels to export, e.g. offensive or spam.")],
    out_file: Annotated[Path, typer.Option("--out", help="Labelled JSONL to write.")],
) -> None:
    """Moderators' decisions as labelled JSONL, ready for `townsquare train classifier`."""
    from townsquare.safety.queue import export_decisions

    count = export_decisions(open_store(ctx), classifier, out_file)
    out.print(f"wrote {count:,} labelled texts to {out_file}; retrain with "
              f"`townsquare train classifier {classifier} --data {out_file}`")


@moderate_app.command("policy")
def moderate_policy(ctx: typer.Context, policy: PolicyOption = None, as_json: JsonFlag = False) -> None:
    """The policy's rules with the thresholds chosen for their stated precision, at the prevalence it assumes."""
    scorer = safety_scorer(ctx)
    rules = community_policy(ctx, scorer, policy)
    described = rules.describe()
    if as_json:
        out.print_json(json.dumps({"community": rules.community, "source": rules.source,
                                   "moderator_demote_factor": rules.moderator_demote_factor, "rules": described}))
        return
    table = Table("classifier", "label", "action", "threshold", "precision", "at prevalence",
                  title=f"policy: {rules.community}")
    for r in described:
        action = r["action"] + (f" x{r['factor']:g}" if r["action"] == "demote" else "")
        precision = "-" if r["precision"] is None else f"{r['precision']:.2f} (asked {r['min_precision']})"
        prevalence = "-" if r["prevalence"] is None else f"{r['prevalence']:.3g}"
        table.add_row(r["classifier"], r["label"], action, f"{r['threshold']:.3f}", precision, prevalence)
    out.print(table)
    out.print(f"a moderator's demote: x{rules.moderator_demote_factor:g}")
    out.print(f"source: {rules.source}; as of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


@moderate_app.command("simulate")
def moderate_simulate(
    ctx: typer.Context,
    policy: Annotated[Path, typer.Option("--policy", help="The policy file (TOML) to try.")],
    against: Annotated[Path | None, typer.Option(
        help="The policy to compare with. Default: the policy in force.")] = None,
    examples: Annotated[int, typer.Option(min=0, help="Example posts shown for each change.")] = 3,
    as_json: JsonFlag = False,
) -> None:
    """Try a policy on the posts already scored, before putting it in force.

    The actions it would take against the current policy's, and example posts that would change.
    Runs no model; moderators' decisions stand under any policy and are left out."""
    from townsquare.feed.explain import first_words
    from townsquare.safety.simulate import simulate_policy

    scorer = safety_scorer(ctx)
    current, candidate = community_policy(ctx, scorer, against), community_policy(ctx, scorer, policy)
    result = simulate_policy(open_store(ctx), current, candidate, examples)
    if as_json:
        out.print_json(json.dumps({"current": current.source, "candidate": candidate.source, **result.as_dict()}))
        return
    if not result.posts:
        out.print("no post is scored yet: run `townsquare moderate score` first")
        return
    counts = result.as_dict()
    table = Table("action", f"current ({current.source})", f"candidate ({candidate.source})",
                  title=f"{_count(result.posts, 'scored post')}")
    for action, n in counts["actions"].items():
        table.add_row(action, f"{n['current']:,}", f"{n['candidate']:,}")
    out.print(table)
    if not counts["moves"]:
        out.print("the candidate decides every scored post as the current policy does")
    for move in counts["moves"]:
        out.print(f"\n[bold]{move['from']} -> {move['to']}[/]: {_count(move['posts'], 'post')}")
        for example in move["examples"]:
            out.print(f"  {example['post']}: “{first_words(example['text'], 70)}”")
            for when, reasons in (("now", example["current"]), ("would be", example["candidate"])):
                out.print("".join(f"    {when}: {why}\n" for why in reasons), end="")
