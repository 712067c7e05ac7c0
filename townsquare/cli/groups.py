"""Command groups that several modules add commands to: ``townsquare train`` and ``townsquare eval``.

Each module imports ``train_app`` / ``eval_app`` from here and adds its own commands, so a group
is attached to the root ``app`` once, whichever modules are registered.
"""

from __future__ import annotations

import typer

from townsquare.cli import app

train_app = typer.Typer(help="Train models: classifiers, rankers, scorers.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure models on labelled data: JSON metrics and a report with plots.",
                       no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
