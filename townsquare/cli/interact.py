"""Social interaction commands: reply suggestions, drafts, the assistant, feedback; train/eval the scorer."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from townsquare.cli import app, open_store, settings_of
from townsquare.cli.groups import eval_app, train_app

out = Console()
err = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
UserOption = Annotated[str, typer.Option("--user", "-u", help="The user: handle, external id or internal id.")]
DDData = Annotated[Path, typer.Option("--data", help="DailyDialog++ folder (with dev.json or dataset/dev.json).")]
NoGen = Annotated[bool, typer.Option("--no-generator", help="Bank and stock candidates only (no language model).")]


def _ref(value: str) -> str | int:
    return int(value) if value.isascii() and value.isdigit() else value


def _interact(ctx: typer.Context, store, no_generator: bool = False):
    from townsquare.interact import build_interact

    return build_interact(settings_of(ctx), store, use_generator=not no_generator)


def _print(obj, as_json: bool) -> None:
    """Suggestions as a table, a draft as its text, each with the reasons; ``--json`` for programs."""
    if as_json:
        out.print_json(json.dumps(asdict(obj), default=str))
        return
    from townsquare.interact.suggest import Suggestions

    if isinstance(obj, Suggestions):
        if obj.items:
            table = Table("suggestion", "intent", "from", "score", "why")
            for item in obj.items:
                table.add_row(Text(item.text), item.intent, item.source, f"{item.score:.2f}", Text(item.why))
            out.print(table)
        notes = [*obj.reasons, *([f"voice: {obj.voice}"] if obj.voice else [])]
    else:  # a Draft
        out.print(Text(obj.text or "(no draft)"))
        made = {"generated": "written by the model", "prompt": "built from the prompt's own words"}.get(
            obj.source, f"rewritten: {obj.source.replace('_', ' ')}")
        notes = [f"{made}; hashtags: {', '.join('#' + t for t in obj.hashtags) or 'none'}", *obj.reasons]
    for note in notes:
        out.print(Text(note, style="dim"))


@app.command("suggest")
def suggest(ctx: typer.Context, post: Annotated[str, typer.Argument(help="Post external id or internal id.")],
            user: UserOption, no_generator: NoGen = False, as_json: JsonFlag = False) -> None:
    """Up to 3 reply suggestions for a post, in the user's voice (or why there are none)."""
    store = open_store(ctx)
    _print(_interact(ctx, store, no_generator).suggester.suggest(_ref(post), _ref(user)), as_json)


@app.command("draft")
def draft(ctx: typer.Context, prompt: Annotated[str, typer.Argument(help="What the post is about.")],
          user: UserOption, no_generator: NoGen = False, as_json: JsonFlag = False) -> None:
    """Draft a post in the user's voice with fitting hashtags."""
    store = open_store(ctx)
    _print(_interact(ctx, store, no_generator).drafter.draft(_ref(user), prompt), as_json)


@app.command("rewrite")
def rewrite(ctx: typer.Context, text: Annotated[str, typer.Argument(help="The draft to rewrite.")],
            how: Annotated[str, typer.Option("--how", help="shorter, warmer, more_formal or add_question.")],
            no_generator: Annotated[bool, typer.Option(
                "--no-generator", help="add_question asks a stock question instead of one the language model "
                                       "writes (the other rewrites never use it).")] = False,
            as_json: JsonFlag = False) -> None:
    """Rewrite a draft: shorter, warmer, more formal, or with a question."""
    store = open_store(ctx)
    _print(_interact(ctx, store, no_generator).drafter.rewrite(text, how), as_json)


@app.command("ask")
def ask(ctx: typer.Context, question: Annotated[str, typer.Argument(help="e.g. 'any posts about sourdough this week?'")],
        user: UserOption, as_json: JsonFlag = False) -> None:
    """Ask about the platform's posts and people; answers cite real posts the user may see."""
    store = open_store(ctx)
    answer = _interact(ctx, store, no_generator=True).assistant.answer(_ref(user), question)
    if as_json:
        _print(answer, True)
    else:
        out.print(answer.text, highlight=False)


@app.command("feedback")
def feedback(ctx: typer.Context, suggestion: Annotated[int, typer.Argument(min=1, max=2**62, help="Suggestion id from `suggest`.")],
             outcome: Annotated[str, typer.Argument(help="picked, edited or ignored.")],
             text: Annotated[str | None, typer.Option("--text", help="What the user posted (edited).")] = None) -> None:
    """Record what the user did with a suggestion: picked replies weigh more in the bank, ignored ones less;
    `train scorer --feedback` learns from the outcomes."""
    from townsquare.interact import record_feedback

    record_feedback(open_store(ctx), suggestion, outcome, text)
    out.print(f"recorded: suggestion {suggestion} {outcome}")


@train_app.command("scorer")
def train_scorer_cmd(ctx: typer.Context, data: DDData,
                     out_path: Annotated[Path | None, typer.Option(
                         "--out", help="Where to write the scorer (default: DATA_DIR/models/interact/).")] = None,
                     with_feedback: Annotated[bool, typer.Option(
                         "--feedback", help="Add the store's recorded feedback as training groups.")] = False,
                     epochs: Annotated[int, typer.Option("--epochs")] = 20) -> None:
    """Train the reply scorer (a 384x384 map + reply prior on frozen MiniLM vectors; needs torch)."""
    from townsquare.interact.scorer import trained_scorer_path
    from townsquare.interact.scorer_train import embed_groups, train_scorer
    from townsquare.interact.training_data import dailydialog_groups, feedback_groups
    from townsquare.models import get_embedder

    settings = settings_of(ctx)
    groups = dailydialog_groups(data)
    shipped, feedback = len(groups), []
    if with_feedback:
        feedback = feedback_groups(open_store(ctx))
        if not feedback:
            err.print("[yellow]note:[/] --feedback found no usable feedback (a post with a picked or edited "
                      "suggestion and one ignored); training on DailyDialog++ alone", highlight=False)
        groups += feedback
    vectors = embed_groups(groups, get_embedder(settings))
    scorer = train_scorer(vectors, epochs=epochs, log=lambda m: err.print(m, highlight=False))
    path = scorer.save(out_path or trained_scorer_path(settings.data_dir))
    out.print(f"wrote {path} ({path.stat().st_size // 1024} KB), trained on {len(groups)} contexts: "
              f"{shipped} from DailyDialog++" + (f", {len(feedback)} from this platform's feedback" if with_feedback else ""))


@eval_app.command("replies")
def eval_replies(ctx: typer.Context, data: DDData,
                 folds: Annotated[int, typer.Option("--folds", min=2)] = 5,
                 sample: Annotated[int, typer.Option(
                     "--sample", help="Held-out contexts for generated suggestions (0: skip).")] = 50,
                 no_generator: NoGen = False, as_json: JsonFlag = False,
                 output: Annotated[Path, typer.Option("--out", help=(
                     "JSON result file; the HTML + PNG report go beside it."))] = Path("reports/replies-dailydialog.json"),
                 ) -> None:
    """DailyDialog++ ranking (k-fold by context) with ablations, scorer speed, generated suggestions;
    writes JSON and an HTML + PNG report."""
    from townsquare.errors import check_writable_file
    from townsquare.interact.evaluation import evaluate_replies
    from townsquare.interact.report import write_report
    from townsquare.interact.training_data import dailydialog_groups
    from townsquare.models import get_embedder, get_generator

    settings = settings_of(ctx)
    check_writable_file(output)  # before the work, not after
    groups = dailydialog_groups(data)
    generator = None if no_generator or sample == 0 else get_generator(settings)
    report = evaluate_replies(groups, get_embedder(settings), folds=folds, generator=generator,
                              sample=sample, log=lambda m: err.print(m, highlight=False))
    written = write_report(report, output)
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    out.print(report)
    out.print("wrote " + ", ".join(str(p) for p in written))
