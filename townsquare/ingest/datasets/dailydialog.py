"""DailyDialog++ (Sai et al. 2020): dialogue contexts with good, adversarial and random replies.

Each ``{split}.json`` line (JSON Lines despite the name) holds a context and 5 positive, 5
adversarial-negative and 5 random-negative responses. ``read_dailydialog_groups`` gives one
``ReplyGroup`` per context; ``read_dailydialog_plusplus`` flattens them to one LabelledText per
(context, candidate) with label good / adversarial / random and extra fields ``context`` (the
turns) and ``group`` (the context id), so the 15-candidate groups can be rebuilt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from townsquare.errors import InputError
from townsquare.ingest.datasets.files import no_task, parse_lines, split_file
from townsquare.ingest.jsonl import DuplicateGuard, ErrorHandler, build
from townsquare.ingest.records import LabelledText

NAME = "DailyDialog++"
SUBFOLDERS = ("dataset",)
FILES = {"train": "train.json", "val": "dev.json", "test": "test.json"}
Turn = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
LABELS = {
    "good": "positive_responses",
    "adversarial": "adversarial_negative_responses",
    "random": "random_negative_responses",
}


class ReplyGroup(BaseModel):
    """One context and its candidate replies by kind."""

    model_config = ConfigDict(frozen=True)

    id: str
    context: list[Turn] = Field(min_length=1)
    good: list[Turn]
    adversarial: list[Turn]
    random: list[Turn]

    def candidates(self) -> list[tuple[str, str]]:
        """``(reply, label)`` for every candidate: goods, then adversarial, then random."""
        return [(reply, label) for label in LABELS for reply in getattr(self, label)]


class _Line(BaseModel):
    """A line as the dataset writes it."""

    model_config = ConfigDict(extra="ignore")

    id: int | str
    context: list[Turn] = Field(min_length=1)
    positive_responses: list[Turn]
    adversarial_negative_responses: list[Turn] = []
    random_negative_responses: list[Turn] = []


def read_dailydialog_groups(
    path: str | os.PathLike[str], *, split: str = "dev", on_error: ErrorHandler | None = None
) -> Iterator[ReplyGroup]:
    """One ReplyGroup per context of a split (train, dev or test)."""
    source = split_file(path, split, FILES, SUBFOLDERS, NAME)
    return parse_lines(source, _parser(source), on_error)


def read_dailydialog_plusplus(
    path: str | os.PathLike[str],
    *,
    split: str = "dev",
    task: str | None = None,
    on_error: ErrorHandler | None = None,
) -> Iterator[LabelledText]:
    """One LabelledText per (context, candidate reply), labelled good / adversarial / random."""
    no_task(task, NAME)
    groups = read_dailydialog_groups(path, split=split, on_error=on_error)
    return (
        LabelledText(text=reply, label=label, context=list(group.context), group=group.id)
        for group in groups
        for reply, label in group.candidates()
    )


def _parser(source: Path):
    seen = DuplicateGuard(str(source))

    def parse(line: int, text: str) -> ReplyGroup:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"not valid JSON: {exc.msg} at column {exc.colno}", source=str(source), line=line
            ) from None
        if not isinstance(data, dict):
            raise InputError(
                f"expected a JSON object, got {type(data).__name__}", source=str(source), line=line
            )
        row = build(_Line, data, source=str(source), line=line)
        seen.check(str(row.id), line, f"context id {row.id!r}", "id")
        return ReplyGroup(
            id=str(row.id),
            context=row.context,
            good=row.positive_responses,
            adversarial=row.adversarial_negative_responses,
            random=row.random_negative_responses,
        )

    return parse
