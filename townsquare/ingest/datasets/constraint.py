"""CONSTRAINT@AAAI-2021 COVID-19 fake news (English): social posts labelled real or fake.

CSV with header ``id,tweet,label``. Text = the post; label = real or fake; extra field ``id``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from townsquare.errors import InputError
from townsquare.ingest.datasets.files import no_task, split_file
from townsquare.ingest.jsonl import DuplicateGuard, ErrorHandler, build, raise_or_report
from townsquare.ingest.records import LabelledText
from townsquare.ingest.tabular import table_rows

NAME = "CONSTRAINT COVID-19 fake news"
SUBFOLDERS = ("data",)
FILES = {"train": "Constraint_Train.csv", "val": "Constraint_Val.csv", "test": "english_test_with_labels.csv"}
LABELS = ("real", "fake")


def read_constraint(
    path: str | os.PathLike[str],
    *,
    split: str = "train",
    task: str | None = None,
    on_error: ErrorHandler | None = None,
) -> Iterator[LabelledText]:
    """LabelledText for one split (train, val or test) of the English CONSTRAINT data."""
    no_task(task, NAME)
    source = split_file(path, split, FILES, SUBFOLDERS, NAME)
    return _rows(str(source), on_error)


def _rows(source: str, on_error: ErrorHandler | None) -> Iterator[LabelledText]:
    seen = DuplicateGuard(source)
    rows = table_rows(
        source, {"id": "id", "text": "tweet", "label": "label"}, delimiter=",", on_error=on_error
    )
    for row in rows:
        try:
            post_id, label = row.cells["id"].strip(), row.cells["label"].strip()
            seen.check(post_id, row.line, f"post id {post_id!r}", "id")
            if label not in LABELS:
                raise InputError(
                    f"{label!r} is not a label here; labels: {', '.join(LABELS)}",
                    source=source,
                    line=row.line,
                    field="label",
                )
            record = build(
                LabelledText,
                {"text": row.cells["text"].strip(), "label": label, "id": post_id},
                source=source,
                line=row.line,
                fields={"text": "tweet"},
            )
        except InputError as error:
            raise_or_report(error, on_error)
            continue
        yield record
