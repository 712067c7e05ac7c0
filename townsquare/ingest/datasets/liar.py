"""LIAR (Wang 2017): PolitiFact statements with six truth labels, as LabelledText.

TSV without header, 14 columns. Text = the statement; label = one of pants-fire, false,
barely-true, half-true, mostly-true, true. Extra fields: ``id``, ``subjects`` (list), ``speaker``,
``speaker_job``, ``state``, ``party``, ``context``. The speaker credit-history counts (columns
9-13) are left out on purpose: they tally the speaker's labels including this statement's own,
so they leak the answer into any model trained on them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from townsquare.errors import InputError
from townsquare.ingest.datasets.files import no_task, parse_lines, split_fields, split_file
from townsquare.ingest.jsonl import DuplicateGuard, ErrorHandler, build
from townsquare.ingest.records import LabelledText

NAME = "LIAR"
SUBFOLDERS = ("liar_dataset",)
FILES = {"train": "train.tsv", "val": "valid.tsv", "test": "test.tsv"}
LABELS = ("pants-fire", "false", "barely-true", "half-true", "mostly-true", "true")


def read_liar(
    path: str | os.PathLike[str],
    *,
    split: str = "train",
    task: str | None = None,
    on_error: ErrorHandler | None = None,
) -> Iterator[LabelledText]:
    """LabelledText for one split (train, valid or test) of an unpacked liar_dataset folder."""
    no_task(task, NAME)
    source = split_file(path, split, FILES, SUBFOLDERS, NAME)
    return parse_lines(source, _parser(source), on_error)


def _parser(source: Path):
    seen = DuplicateGuard(str(source))

    def parse(line: int, text: str) -> LabelledText:
        fields = split_fields(text, "\t", 14, source=source, line=line, what="LIAR")
        statement_id, label, statement, subjects, speaker, job, state, party = (f.strip() for f in fields[:8])
        context = fields[13].strip()  # fields[8:13] are the leaking credit-history counts: never read
        seen.check(statement_id, line, f"statement id {statement_id!r}", "id")
        if label not in LABELS:
            raise InputError(
                f"{label!r} is not a LIAR label; labels: {', '.join(LABELS)}",
                source=str(source),
                line=line,
                field="label",
            )
        data = {
            "text": statement,
            "label": label,
            "id": statement_id.removesuffix(".json"),
            "subjects": [s.strip() for s in subjects.split(",") if s.strip()],
            "speaker": speaker,
            "speaker_job": job,
            "state": state,
            "party": party,
            "context": context,
        }
        return build(LabelledText, data, source=str(source), line=line, fields={"text": "statement"})

    return parse
