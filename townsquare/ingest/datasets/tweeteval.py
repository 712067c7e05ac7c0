"""TweetEval (Cardiff NLP): tweets with a label per task, as LabelledText.

Each task folder holds ``{split}_text.txt`` (one tweet a line), ``{split}_labels.txt`` (the label
id on the same line) and ``mapping.txt`` (``id<TAB>name``); stance targets are sub-folders of
``stance/`` sharing its mapping, named here ``stance/<target>``. Labels become their names.
Extra fields: ``task``, ``split``, ``line``. The few tweets that are blank in the source files
(hate: 7 train, 1 val) carry no text and are skipped, with a warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path

from townsquare.errors import InputError, NotFoundError
from townsquare.ingest.datasets.files import SPLIT_ALIASES, integer, parse_lines, split_fields
from townsquare.ingest.jsonl import ErrorHandler, build, decoded_lines, raise_or_report
from townsquare.ingest.records import LabelledText

log = logging.getLogger(__name__)

NAME = "TweetEval"
SPLITS = ("train", "val", "test")


def tweeteval_tasks(path: str | os.PathLike[str]) -> list[str]:
    """The tasks present in a TweetEval folder, e.g. ["emotion", ..., "stance/abortion", ...]."""
    root = _root(path)
    tasks = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if any(folder.glob("*_text.txt")):
            tasks.append(folder.name)
        tasks += [
            f"{folder.name}/{sub.name}"
            for sub in sorted(folder.iterdir())
            if sub.is_dir() and any(sub.glob("*_text.txt"))
        ]
    return tasks


def _root(path: str | os.PathLike[str]) -> Path:
    """The folder holding the task folders: ``path`` itself or its ``datasets`` (the repo layout)."""
    path = Path(path)
    if not path.is_dir():
        raise NotFoundError(
            f"Dataset folder not found: {path}. Give the folder that holds TweetEval's task folders."
        )
    nested = path / "datasets"
    return nested if nested.is_dir() and not any(path.glob("*/mapping.txt")) else path


def read_tweeteval(
    path: str | os.PathLike[str],
    *,
    task: str | None = None,
    split: str = "train",
    on_error: ErrorHandler | None = None,
) -> Iterator[LabelledText]:
    """LabelledText for one task and split (train, val or test) of a TweetEval ``datasets`` folder."""
    root = _root(path)
    tasks = tweeteval_tasks(root)
    if task is None or task not in tasks:
        what = "give a task" if task is None else f"unknown task {task!r}"
        raise InputError(f"{what}; TweetEval tasks here: {', '.join(tasks) or 'none'}", field="task")
    key = SPLIT_ALIASES.get(split.lower(), split.lower())
    if key not in SPLITS:
        raise InputError(f"unknown split {split!r}; TweetEval splits: {', '.join(SPLITS)}", field="split")
    folder = root / task
    texts, labels = folder / f"{key}_text.txt", folder / f"{key}_labels.txt"
    for needed in (texts, labels):
        if not needed.is_file():
            present = [s for s in SPLITS if (folder / f"{s}_text.txt").is_file()]
            raise NotFoundError(
                f"{NAME} {task}: {needed.name} not found in {folder}. "
                f"Splits present: {', '.join(present) or 'none'}."
            )
    mapping_file = (
        folder / "mapping.txt" if (folder / "mapping.txt").is_file() else folder.parent / "mapping.txt"
    )
    names = dict(parse_lines(mapping_file, lambda n, t: _mapping(mapping_file, n, t), None))
    return _rows(texts, labels, names, task, key, on_error)


def _mapping(source: Path, line: int, text: str) -> tuple[str, str]:
    label_id, name = split_fields(text, "\t", 2, source=source, line=line, what="mapping.txt")
    return str(integer(label_id.strip(), source=source, line=line, field="label id", low=0)), name.strip()


def _rows(
    texts: Path, labels: Path, names: dict[str, str], task: str, split: str, on_error: ErrorHandler | None
) -> Iterator[LabelledText]:
    blank = 0
    pairs = zip_longest(decoded_lines(texts, on_error), decoded_lines(labels, on_error))
    for text_line, label_line in pairs:
        try:
            if text_line is None or label_line is None:
                _raise_length_mismatch(texts, labels, text_line, label_line)
            number, text = text_line
            label_id = label_line[1].strip()
            if label_id not in names:
                raise InputError(
                    f"label id {label_id!r} is not in mapping.txt ({', '.join(names)})",
                    source=str(labels),
                    line=number,
                    field="label",
                )
            if not text.strip():
                blank += 1
                continue
            yield build(
                LabelledText,
                {
                    "text": text.strip(),
                    "label": names[label_id],
                    "task": task,
                    "split": split,
                    "line": number,
                },
                source=str(texts),
                line=number,
            )
        except InputError as error:
            raise_or_report(error, on_error)
            if text_line is None or label_line is None:
                return
    if blank:
        log.warning("TweetEval %s/%s: skipped %d blank tweets", task, split, blank)


def _raise_length_mismatch(
    texts: Path, labels: Path, text_line: tuple[int, str] | None, label_line: tuple[int, str] | None
) -> None:
    longer, line = (texts, text_line) if label_line is None else (labels, label_line)
    assert line is not None
    raise InputError(
        f"{texts.name} and {labels.name} have different line counts: {longer.name} goes on "
        f"past line {line[0] - 1}; the two files must pair line by line",
        source=str(longer),
        line=line[0],
    )
