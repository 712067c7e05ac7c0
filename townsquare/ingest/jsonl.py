"""Read townsquare's JSONL record format, and the line and validation primitives every reader shares.

Every reader is a plain function returning an iterator of records. Bad input becomes an
:class:`InputError` naming file, line and field; with ``on_error`` the bad row is reported to it
and skipped, without it the error is raised.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from townsquare.errors import InputError, NotFoundError
from townsquare.ingest.records import (
    AnyRecord,
    EdgeRecord,
    InteractionRecord,
    LabelledText,
    PostRecord,
    UserRecord,
)

ErrorHandler = Callable[[InputError], None]
M = TypeVar("M", bound=BaseModel)

RECORD_TYPES: dict[str, type[BaseModel]] = {
    "user": UserRecord,
    "post": PostRecord,
    "follow": EdgeRecord,
    "block": EdgeRecord,
    "mute": EdgeRecord,
    "interaction": InteractionRecord,
}


def raise_or_report(error: InputError, on_error: ErrorHandler | None) -> None:
    """Raise ``error``, or hand it to ``on_error`` so the caller can skip the row."""
    if on_error is None:
        raise error
    on_error(error)


def open_checked(path: str | os.PathLike[str]) -> Path:
    """The path as a Path, or NotFoundError saying which file is missing."""
    path = Path(path)
    if path.is_dir():
        raise NotFoundError(f"{path} is a folder; give a file")
    if not path.is_file():
        raise NotFoundError(f"input file not found: {path}")
    with path.open("rb") as handle:
        start = handle.read(4)
    for magic, kind, undo in ((b"\x1f\x8b", "gzip", "gunzip"), (b"PK\x03\x04", "zip", "unzip"),
                              (b"BZh", "bzip2", "bunzip2"), (b"\xfd7zX", "xz", "unxz"), (b"\x28\xb5\x2f\xfd", "zstd", "unzstd")):
        if start.startswith(magic):
            raise InputError(f"the file is {kind}-compressed; decompress it first ({undo} {path.name})", source=str(path))
    return path


def decoded_lines(
    path: str | os.PathLike[str], on_error: ErrorHandler | None = None, *, encoding: str = "utf-8"
) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` with line endings kept, decoding each line strictly.

    A line that does not decode is an error; with ``on_error`` it is reported and replaced by an
    empty line, so line numbers stay right for the rows after it. A UTF-8 BOM is dropped.
    """
    path = open_checked(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf") and encoding == "utf-8":
                raw = raw[3:]
            try:
                yield number, raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise_or_report(
                    InputError(
                        f"not valid {encoding.upper()} (byte 0x{raw[exc.start]:02x} at column "
                        f"{exc.start + 1}); re-save the file as {encoding.upper()}",
                        source=str(path),
                        line=number,
                    ),
                    on_error,
                )
                yield number, "\n"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _explain(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        return "is not a known field; known fields: " + ", ".join(
            f for f in model.model_fields if f != "type"
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    if "input" in error and not isinstance(error["input"], Mapping):
        message += f" (got {_short(error['input'])})"
    return message


def validation_error(
    exc: ValidationError,
    model: type[BaseModel],
    *,
    source: str | None,
    line: int | None,
    fields: Mapping[str, str] | None = None,
) -> InputError:
    """Turn a pydantic ValidationError into one readable InputError.

    ``fields`` renames record fields to what the user's file calls them (e.g. post -> movieId).
    """
    fields = fields or {}
    parts: list[tuple[str | None, str]] = []
    for error in exc.errors(include_url=False):
        loc = [str(p) for p in error["loc"]]
        if loc:
            loc[0] = fields.get(loc[0], loc[0])
        parts.append((".".join(loc) or None, _explain(error, model)))
    field, message = parts[0]
    others = "; ".join(f"'{f}' {m}" if f else m for f, m in parts[1:])
    return InputError(message + (f"; also {others}" if others else ""), source=source, line=line, field=field)


def build(
    model: type[M],
    data: Mapping[str, Any],
    *,
    source: str | None,
    line: int | None,
    fields: Mapping[str, str] | None = None,
) -> M:
    """Validate ``data`` into ``model`` or raise a located InputError (never a pydantic dump)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, model, source=source, line=line, fields=fields) from None


class DuplicateGuard:
    """Remembers on which line each key was first seen, to report duplicates naming both lines."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._first: dict[Hashable, int] = {}

    def check(self, key: Hashable, line: int, what: str, field: str | None = None) -> None:
        """Raise InputError if ``key`` was seen before; ``what`` describes it (e.g. "user id 'u1'")."""
        first = self._first.setdefault(key, line)
        if first != line:
            raise InputError(
                f"duplicate {what}: first on line {first}, again on line {line}; "
                "each must appear once per file",
                source=self.source,
                line=line,
                field=field,
            )


def _duplicate_key(record: BaseModel) -> tuple[Hashable, str, str] | None:
    if isinstance(record, UserRecord | PostRecord):
        return (record.type, record.id), f"{record.type} id {record.id!r}", "id"
    if isinstance(record, EdgeRecord):
        return (
            (record.type, record.source, record.target),
            f"{record.type} {record.source!r} -> {record.target!r}",
            "target",
        )
    return None  # interactions repeat legitimately (a user views a post many times)


_RECORD = TypeAdapter(AnyRecord)


def parse_record_line(text: str, *, source: str, line: int) -> AnyRecord:
    """One JSONL line -> the record its ``type`` names, or a located InputError.

    A good line is parsed and validated in one call into pydantic's core; a bad one goes the
    slow way, step by step, so that the error says exactly what is wrong.
    """
    try:
        return _RECORD.validate_json(text)
    except ValidationError:
        pass
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg} at column {exc.colno}", source=source, line=line
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {type(data).__name__}", source=source, line=line)
    valid = ", ".join(RECORD_TYPES)
    if "type" not in data:
        raise InputError(
            f"is missing; every line needs a type, one of: {valid}", source=source, line=line, field="type"
        )
    kind = data["type"]
    if not isinstance(kind, str) or kind not in RECORD_TYPES:
        raise InputError(
            f"unknown record type {_short(kind)}; valid types: {valid}",
            source=source,
            line=line,
            field="type",
        )
    return build(RECORD_TYPES[kind], data, source=source, line=line)  # type: ignore[return-value]


def read_jsonl(path: str | os.PathLike[str], on_error: ErrorHandler | None = None,
               located: bool = False) -> Iterator[AnyRecord]:
    """Records from a townsquare JSONL file (see records.py), one object per line; blank lines skipped.

    Duplicate user/post ids and duplicate edges within the file are errors naming both lines.
    With ``located``, each record comes as ``Located(record, source, line)`` so that the loader's
    errors (unknown references) name the line too.
    """
    from townsquare.ingest.loader import Located

    source = str(path)
    seen = DuplicateGuard(source)
    for number, text in decoded_lines(path, on_error):
        if not text.strip():
            continue
        try:
            record = parse_record_line(text, source=source, line=number)
            key = _duplicate_key(record)
            if key is not None:
                seen.check(key[0], number, key[1], key[2])
        except InputError as error:
            raise_or_report(error, on_error)
            continue
        yield Located(record, source, number) if located else record


def read_labelled_jsonl(
    path: str | os.PathLike[str], on_error: ErrorHandler | None = None, located: bool = False
) -> Iterator[LabelledText]:
    """LabelledText objects from the canonical labelled JSONL (``{"text", "label", ...extra}``); with
    ``located``, each as ``Located(record, source, line)``."""
    from townsquare.ingest.loader import Located

    source = str(path)
    for number, text in decoded_lines(path, on_error):
        if not text.strip():
            continue
        try:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"not valid JSON: {exc.msg} at column {exc.colno}", source=source, line=number
                ) from None
            if not isinstance(data, dict):
                raise InputError(
                    f"expected a JSON object, got {type(data).__name__}", source=source, line=number
                )
            record = build(LabelledText, data, source=source, line=number)
        except InputError as error:
            raise_or_report(error, on_error)
            continue
        yield Located(record, source, number) if located else record


def write_labelled_jsonl(records: Iterable[LabelledText], path: str | os.PathLike[str]) -> int:
    """Write records as labelled JSONL (UTF-8, one object per line); returns how many were written.

    The file is written next to its destination and moved into place at the end, so a failed
    read never leaves a half-written file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for record in records:
                handle.write(json.dumps(record.model_dump(mode="json"), ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
