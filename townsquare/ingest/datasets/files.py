"""Finding a dataset's files and naming its splits: shared by the dataset readers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from townsquare.errors import InputError, NotFoundError
from townsquare.ingest.jsonl import ErrorHandler, decoded_lines, raise_or_report

T = TypeVar("T")

# The names different distributions use for the same split.
SPLIT_ALIASES = {
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "train": "train",
    "test": "test",
}


def dataset_file(
    folder: str | os.PathLike[str], name: str, subfolders: Iterable[str] = (), dataset: str = "the dataset"
) -> Path:
    """``folder/name``, or ``folder/<subfolder>/name`` for the layouts the official archives unpack to."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotFoundError(
            f"Dataset folder not found: {folder}. Give the folder that holds {dataset}'s files."
        )
    for candidate in [folder / name, *(folder / sub / name for sub in subfolders)]:
        if candidate.is_file():
            return candidate
    raise NotFoundError(
        f"{dataset}: {name} not found in {folder}"
        + (f" (nor in its subfolders {', '.join(subfolders)})" if subfolders else "")
        + ". Point the command at the unpacked dataset folder."
    )


def split_file(
    folder: str | os.PathLike[str],
    split: str,
    files: Mapping[str, str],
    subfolders: Iterable[str],
    dataset: str,
) -> Path:
    """The file holding ``split`` (aliases such as valid/dev/validation accepted) in ``folder``; or
    ``folder`` itself when it is that very file."""
    key = SPLIT_ALIASES.get(split.lower(), split.lower())
    if key not in files:
        raise InputError(f"unknown split {split!r} for {dataset}; splits: {', '.join(files)}", field="split")
    given = Path(folder)
    if given.is_file():
        if given.name == files[key]:
            return given
        raise NotFoundError(f"{given} is a file, not {dataset}'s {split} split ({files[key]}): give the folder that "
                            f"holds {dataset}'s files, e.g. {given.parent}")
    try:
        return dataset_file(folder, files[key], subfolders, dataset)
    except NotFoundError as exc:
        present = [s for s, name in files.items() if _exists(folder, name, subfolders)]
        raise NotFoundError(f"{exc} Splits present here: {', '.join(present) or 'none'}.") from None


def _exists(folder: str | os.PathLike[str], name: str, subfolders: Iterable[str]) -> bool:
    return any((Path(folder) / sub / name).is_file() for sub in ["", *subfolders])


def no_task(task: str | None, dataset: str) -> None:
    """Datasets without tasks refuse a --task instead of ignoring it."""
    if task is not None:
        raise InputError(f"{dataset} has no tasks; leave out the task (got {task!r})", field="task")


def unix_time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def parse_lines(
    path: Path,
    parse: Callable[[int, str], T],
    on_error: ErrorHandler | None,
    *,
    encoding: str = "utf-8",
    skip: int = 0,
) -> Iterator[T]:
    """``parse(line number, text)`` for each non-blank line after the first ``skip`` (headers).

    ``parse`` raises InputError for a bad line: raised, or reported and skipped with ``on_error``.
    """
    for number, text in decoded_lines(path, on_error, encoding=encoding):
        text = text.rstrip("\r\n")
        if number <= skip or not text.strip():
            continue
        try:
            yield parse(number, text)
        except InputError as error:
            raise_or_report(error, on_error)


def split_fields(text: str, sep: str, count: int, *, source: Path, line: int, what: str) -> list[str]:
    """``text`` split on ``sep`` into exactly ``count`` fields, or an InputError saying how many it has."""
    fields = text.split(sep)
    if len(fields) != count:
        raise InputError(f"has {len(fields)} fields, {what} rows have {count}", source=str(source), line=line)
    return fields


def integer(
    text: str, *, source: Path, line: int, field: str, low: int | None = None, high: int | None = None
) -> int:
    """``text`` as an int within [low, high], or a located InputError."""
    try:
        value = int(text)
    except ValueError:
        raise InputError(
            f"{text!r} is not a whole number", source=str(source), line=line, field=field
        ) from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise InputError(
            f"{value} is out of range [{low}, {high}]", source=str(source), line=line, field=field
        )
    return value
